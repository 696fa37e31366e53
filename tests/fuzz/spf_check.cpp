// spf_check.cpp - libFuzzer harness: a whole SPF check (lib/spf/check.cpp
// over libspf2) where the input is the DNS: the TXT, A, AAAA, MX, PTR and
// CNAME answers of a few names, as a domain owner (a stranger) chooses
// them, served through Dns::zone. Input lines:
//     NAME TYPE DATA        a record (TYPE: TXT A AAAA MX PTR CNAME)
//     NAME TIMEOUT          the name's other types answer tempfail
//     query IP SENDER HELO  a check to run (default: two, IPv4 and IPv6)
//     exp TEXT | rules TERMS | guess TERMS   the control files
// The check runs in-process (timeout 0). Checked: no crash, leak or
// sanitizer report; no exception but spf::Error escapes, and from the
// Checker's construction only (bad control files); a DNS-only problem is
// a result, never an exception; the header has no control characters
// but its folds; each check makes a bounded number of queries (RFC 7208's
// 10 terms, each with at most 10 names, and explanations).
#include "../spf/zone_lines.hpp"
#include "authguard/spf/check.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spf = authguard::spf;

namespace {

std::string_view next_line(std::string_view& text) {
    auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    return line;
}

std::string_view next_word(std::string_view& line) {
    auto sp = line.find(' ');
    std::string_view word = line.substr(0, sp);
    line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    return word;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 8192) return -1;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    spf::Zone zone;
    spf::Options options;
    options.timeout = std::chrono::milliseconds(0);
    options.receiver = "mx.example.org";
    std::vector<spf::Request> requests;
    while (!text.empty()) {
        std::string_view line = next_line(text);
        std::string_view name = next_word(line);
        if (name == "query") {
            spf::Request r;
            r.client_ip = std::string(next_word(line));
            r.sender = std::string(next_word(line));
            r.helo = std::string(line);
            if (requests.size() < 4) requests.push_back(r);
            continue;
        }
        if (name == "exp") {
            options.explanation = std::string(line);
            continue;
        }
        if (name == "rules" || name == "guess") {
            (name == "rules" ? options.local_rules : options.guess) = std::string(line);
            continue;
        }
        std::string_view type = next_word(line);
        if (auto rr = spf::testing::type_named(std::string(type)))
            zone.add(name, *rr, std::string(line));
        else if (type == "TIMEOUT")
            zone.add_timeout(name);
    }
    if (requests.empty()) {
        requests.push_back({"192.0.2.1", "user@example.com", "mail.example.com"});
        requests.push_back({"2001:db8::1", "", "example.com"});
    }

    // Count the queries a check makes through the zone.
    auto queries = std::make_shared<int>(0);
    spf::Dns dns = spf::Dns::function(
        [zone = std::move(zone), queries](std::string_view name, spf::RrType type) {
            ++*queries;
            return zone.lookup(name, type);
        });
    std::optional<spf::Checker> checker;
    try {
        checker.emplace(dns, options);
    } catch (const spf::Error&) {
        return 0; // bad control files: the plugin says nothing, as documented
    }
    for (const spf::Request& r : requests) {
        *queries = 0;
        spf::Verdict v = checker->check(r); // any exception here is a finding
        std::string header = spf::received_spf_header(v);
        for (std::size_t i = 0; i < header.size(); ++i) {
            unsigned char c = static_cast<unsigned char>(header[i]);
            bool fold = c == '\n' && i + 1 < header.size() && header[i + 1] == '\t';
            bool fold_tab = c == '\t' && i > 0 && header[i - 1] == '\n';
            if ((c < 0x20 || c >= 0x7f) && !fold && !fold_tab) std::abort();
        }
        // 1 record + 10 terms x (1 + 10 names x 2) + redirects' records
        // counted among the terms + guess + explanation: far below 400.
        if (*queries > 400) std::abort();
    }
    return 0;
}
