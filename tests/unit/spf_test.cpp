// spf_test.cpp - the SPF layer (lib/spf) that authguard-spf uses: the
// Received-SPF header, the null sender, the time budget, qmail-spf-rc5's
// spfrules/spfguess/spfexp, RFC 7208's limits and record syntax.
#include "authguard/spf/check.hpp"
#include "authguard/spf/syntax.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <sstream>
#include <thread>

using namespace authguard;
using namespace std::chrono_literals;

namespace {

spf::Options quick(std::string receiver = "mx.example.org") {
    spf::Options o;
    o.timeout = 0ms; // in-process: zones answer at once
    o.receiver = std::move(receiver);
    return o;
}

spf::Zone example_zone() {
    spf::Zone z;
    z.add("example.com", spf::RrType::txt, "v=spf1 ip4:192.0.2.0/24 -all");
    z.add("helo.example.net", spf::RrType::txt, "v=spf1 ip4:198.51.100.7 -all");
    z.add("nothing.example", spf::RrType::a, "192.0.2.99");
    z.add("voids.example", spf::RrType::txt,
          "v=spf1 a:n1.voids.example a:n2.voids.example a:n3.voids.example ~all");
    z.add("broken.example", spf::RrType::txt, "v=spf1 ip4:192.0.2.1 foo:bar -all");
    z.add("two.example", spf::RrType::txt, "v=spf1 -all");
    z.add("two.example", spf::RrType::txt, "v=spf1 +all");
    return z;
}

} // namespace

TEST_CASE("spf: a listed client passes and an unlisted one fails with the explanation") {
    spf::Checker c(spf::Dns::zone(example_zone()), quick());
    auto v = c.check({"192.0.2.10", "user@example.com", "client.example.com"});
    CHECK(v.result == spf::Result::pass);
    CHECK(v.identity == "mailfrom");
    auto f = c.check({"203.0.113.5", "user@example.com", "client.example.com"});
    CHECK(f.result == spf::Result::fail);
    // qmail-spf-rc5's default spfexp, with %{xR} read as the receiver.
    CHECK(f.explanation == "See http://spf.pobox.com/why.html?sender=user%40example.com&ip="
                           "203.0.113.5&receiver=mx.example.org");
}

TEST_CASE("spf: the null sender is checked as postmaster@HELO (RFC 7208 2.3)") {
    spf::Checker c(spf::Dns::zone(example_zone()), quick());
    auto v = c.check({"198.51.100.7", "", "helo.example.net"});
    CHECK(v.result == spf::Result::pass);
    CHECK(v.identity == "helo");
    CHECK(v.domain == "helo.example.net");
    CHECK(v.envelope_from.empty());
    auto h = spf::received_spf_header(v);
    CHECK(h.find("identity=helo;") != std::string::npos);
    CHECK(h.find("envelope-from=\"\";") != std::string::npos);
    CHECK(c.check({"198.51.100.8", "", "helo.example.net"}).result == spf::Result::fail);
}

TEST_CASE("spf: Received-SPF is folded before 78 columns and quotes what is not an atom") {
    spf::Verdict v;
    v.result = spf::Result::softfail;
    v.client_ip = "2001:db8::1";
    v.envelope_from = "long.local.part+tag@subdomain.of.a.rather.long.example.com";
    v.helo = "mail(x)";
    v.receiver = "mx.example.org";
    v.identity = "mailfrom";
    v.domain = "subdomain.of.a.rather.long.example.com";
    v.mechanism = "default";
    std::string h = spf::received_spf_header(v);
    CHECK(h.rfind("Received-SPF: softfail (mx.example.org: domain of ", 0) == 0);
    std::istringstream lines(h);
    int n = 0;
    for (std::string line; std::getline(lines, line); ++n) {
        CHECK_MESSAGE(line.size() <= 78, line);
        if (n > 0) CHECK(line.front() == '\t');
    }
    CHECK(n > 1);
    CHECK(h.find("client-ip=\"2001:db8::1\";") != std::string::npos);
    CHECK(h.find("envelope-from=\"long.local.part+tag@subdomain") != std::string::npos);
    CHECK(h.find("helo=\"mail(x)\";") != std::string::npos);
    CHECK(h.find("receiver=mx.example.org;") != std::string::npos);
    CHECK(h.find("mechanism=default;") != std::string::npos);
    CHECK(h.find('\r') == std::string::npos);
    // A comment's parentheses are escaped; control bytes never reach it.
    v.receiver = "evil)\n(host";
    std::string e = spf::received_spf_value(v);
    CHECK(e.find("evil\\)?\\(host") != std::string::npos);
    CHECK(e.find('\n') == std::string::npos);
}

TEST_CASE("spf: the time budget holds against a DNS server that never answers") {
    spf::Options o = quick();
    o.timeout = 700ms;
    spf::Checker c(spf::Dns::function([](std::string_view, spf::RrType) {
                       std::this_thread::sleep_for(30s); // a hung resolver
                       return spf::Answer{};
                   }),
                   o);
    auto start = std::chrono::steady_clock::now();
    auto v = c.check({"192.0.2.1", "user@example.com", "helo.example.com"});
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(v.result == spf::Result::temperror);
    CHECK(v.problem.find("time budget") != std::string::npos);
    CHECK(took < 2s);
    CHECK(took >= 690ms);
}

TEST_CASE("spf: a check started on its thread can be left unread, or waited for later") {
    spf::Options o = quick();
    o.timeout = 2000ms;
    // The abandoned thread may outlive this test: it shares, never borrows.
    auto lookups = std::make_shared<std::atomic<int>>(0);
    spf::Checker slow(spf::Dns::function([lookups](std::string_view, spf::RrType) {
                          ++*lookups;
                          std::this_thread::sleep_for(300ms);
                          return spf::Answer{};
                      }),
                      o);
    {
        auto abandoned = slow.start({"192.0.2.1", "user@example.com", "h.example.com"});
    } // dropped unread while its lookup sleeps: nothing waits, nothing breaks
    spf::Checker c(spf::Dns::zone(example_zone()), o);
    auto running = c.start({"203.0.113.5", "user@example.com", "client.example.com"});
    std::this_thread::sleep_for(50ms); // the caller's own work meanwhile
    auto v = running.wait();
    CHECK(v.result == spf::Result::fail);
    std::this_thread::sleep_for(400ms);
    CHECK(lookups->load() >= 1);
}

TEST_CASE("spf: a check on its own thread returns the same verdict") {
    spf::Options o = quick();
    o.timeout = 2000ms;
    spf::Checker c(spf::Dns::zone(example_zone()), o);
    auto v = c.check({"203.0.113.5", "user@example.com", "client.example.com"});
    CHECK(v.result == spf::Result::fail);
    CHECK(v.explanation.find("receiver=mx.example.org") != std::string::npos);
    CHECK(v.client_ip == "203.0.113.5");
}

TEST_CASE("spf: RFC 7208's limits, syntax and record selection give permerror") {
    spf::Checker c(spf::Dns::zone(example_zone()), quick());
    auto voids = c.check({"192.0.2.1", "u@voids.example", "h.example"});
    CHECK(voids.result == spf::Result::permerror);
    CHECK(voids.problem.find("void") != std::string::npos);
    CHECK(c.check({"192.0.2.1", "u@broken.example", "h.example"}).result == spf::Result::permerror);
    CHECK(c.check({"192.0.2.1", "u@two.example", "h.example"}).result == spf::Result::permerror);
    CHECK(c.check({"192.0.2.1", "u@nothing.example", "h.example"}).result == spf::Result::none);
    // RFC 7208 4.3: no domain to check.
    CHECK(c.check({"192.0.2.1", "", "localhost"}).result == spf::Result::none);
    CHECK(c.check({"not-an-ip", "u@example.com", "h.example"}).result == spf::Result::permerror);
    CHECK(c.check({"::ffff:192.0.2.10", "u@example.com", "h"}).result == spf::Result::pass);
}

TEST_CASE("spf: more than 10 DNS-querying terms is a permerror") {
    spf::Zone z;
    std::string record = "v=spf1";
    for (int i = 0; i < 11; ++i) {
        std::string name = "h" + std::to_string(i) + ".many.example";
        record += " a:" + name;
        z.add(name, spf::RrType::a, "198.51.100.1");
    }
    z.add("many.example", spf::RrType::txt, record + " -all");
    spf::Checker c(spf::Dns::zone(z), quick());
    auto v = c.check({"192.0.2.1", "u@many.example", "h.example"});
    CHECK(v.result == spf::Result::permerror);
    CHECK(v.problem.find("DNS-querying") != std::string::npos);
}

TEST_CASE("spf: spfrules come before a failing default, spfguess stands in for no record") {
    spf::Zone z = example_zone();
    z.add("guess.example", spf::RrType::a, "192.0.2.50");
    spf::Options o = quick();
    o.local_rules = "ip4:203.0.113.0/24";
    o.guess = "a";
    spf::Checker c(spf::Dns::zone(z), o);
    auto local = c.check({"203.0.113.5", "user@example.com", "h.example"});
    CHECK(local.result == spf::Result::pass);
    auto guessed = c.check({"192.0.2.50", "user@guess.example", "h.example"});
    CHECK(guessed.result == spf::Result::pass);
    CHECK(guessed.mechanism == "guess");
    // A guess that does not match leaves "none", as qmail-spf-rc5 does.
    CHECK(c.check({"198.51.100.1", "user@guess.example", "h.example"}).result == spf::Result::none);
    spf::Options bad = quick();
    bad.local_rules = "ip4:300.1.1.1";
    CHECK_THROWS_AS(spf::Checker(spf::Dns::zone(z), bad), spf::Error);
}

TEST_CASE("spf: record grammar (RFC 7208 12)") {
    CHECK_FALSE(spf::record_error("v=spf1 a mx/24 a:%{d}.example.com//64 ip6:2001:db8::/32 "
                                  "include:_spf.example.com exp=exp.%{d} -all"));
    CHECK(spf::record_error("v=spf1 a:1.2.3.4"));      // numeric top label
    CHECK(spf::record_error("v=spf1 ip4:1.2.3.4/33")); // length out of range
    CHECK(spf::record_error("v=spf1 redirect=a.example.com redirect=b.example.com"));
    CHECK(spf::record_error("v=spf1 exists:%{c}.example.com")); // c only in exp text
    CHECK(spf::record_error("v=spf1 -all:foo"));
    CHECK(spf::is_spf_record("V=SPF1"));
    CHECK_FALSE(spf::is_spf_record("v=spf10 -all"));
    CHECK(spf::libspf2_form("v=spf1 ip4:1.2.3.4/0 x=y redirect=a.example.com -all", false, ".m") ==
          "v=spf1 ip4:0.0.0.0/1 ip4:128.0.0.0/1 -all");
}

// Found against pyspf (tests/spf/pyspf-compare): libspf2 evaluated a
// redirect= where it was written, and a name that cannot be asked for
// counted as a void lookup.
TEST_CASE("spf: redirect= is evaluated after every mechanism, wherever it is written") {
    CHECK(spf::libspf2_form("v=spf1 redirect=r.example.com exp=e.example.com -ip4:192.0.2.1", false,
                            ".m") ==
          "v=spf1 -ip4:192.0.2.1 redirect=r.example.com exp=e.example.com");
    spf::Zone z;
    z.add("first.example", spf::RrType::txt, "v=spf1 redirect=r.first.example -ip4:192.0.2.0/24");
    z.add("r.first.example", spf::RrType::txt, "v=spf1 +all");
    spf::Checker c(spf::Dns::zone(z), quick());
    CHECK(c.check({"192.0.2.1", "u@first.example", "h.example"}).result == spf::Result::fail);
    CHECK(c.check({"198.51.100.1", "u@first.example", "h.example"}).result == spf::Result::pass);
}

TEST_CASE("spf: a name that cannot be queried matches nothing and is not a void lookup") {
    spf::Zone z;
    z.add("empty-label.example", spf::RrType::txt,
          "v=spf1 a:n1.empty-label.example a:x..empty-label.example a:n2.empty-label.example "
          "ip4:192.0.2.1 -all");
    spf::Checker c(spf::Dns::zone(z), quick());
    CHECK(c.check({"192.0.2.1", "u@empty-label.example", "h.example"}).result == spf::Result::pass);
}
