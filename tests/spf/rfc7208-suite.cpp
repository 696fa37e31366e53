// rfc7208-suite.cpp - runs the RFC 7208 conformance suite (Debian's
// python3-spf, converted by rfc7208-to-tsv.py) against authguard's SPF
// layer: each scenario's DNS data is served by a spf::Zone, each test is
// one Checker::check. Prints "SPF RFC 7208 suite: N of M", then one line
// per failing test: "NAME: expected X got Y (problem)".
//
//   spf-rfc7208-suite SUITE.tsv [TEST-NAME...]
// Exit status: 0 when it ran (the score is judged by the caller), 2 when
// the input cannot be read.
#include "authguard/spf/check.hpp"
#include "zone_lines.hpp"

#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace authguard;
using authguard::spf::testing::fields;
using authguard::spf::testing::type_named;

namespace {

// What pyspf's test driver does around its zone: empty labels dropped, a
// label over 63 characters a DNS error, a missing "error." name a timeout.
spf::Dns suite_dns(spf::Zone zone) {
    return spf::Dns::function([zone = std::move(zone)](std::string_view name, spf::RrType type) {
        std::string clean;
        std::size_t i = 0;
        while (i <= name.size()) {
            std::size_t j = name.find('.', i);
            if (j == std::string_view::npos) j = name.size();
            std::string_view label = name.substr(i, j - i);
            if (label.size() > 63) return spf::Answer{spf::Answer::Status::tempfail, {}};
            if (!label.empty()) clean += (clean.empty() ? "" : ".") + std::string(label);
            i = j + 1;
        }
        spf::Answer a = zone.lookup(clean, type);
        if (a.status == spf::Answer::Status::nxdomain && clean.rfind("error.", 0) == 0)
            a.status = spf::Answer::Status::tempfail;
        return a;
    });
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: spf-rfc7208-suite SUITE.tsv [TEST-NAME...]\n";
        return 2;
    }
    std::ifstream in(argv[1], std::ios::binary);
    if (!in) {
        std::cerr << "spf-rfc7208-suite: cannot read " << argv[1] << "\n";
        return 2;
    }
    std::set<std::string> only(argv + 2, argv + argc);
    spf::Options options;
    options.timeout = std::chrono::milliseconds(0); // in-process: the zone never waits
    options.explanation = "DEFAULT";                // what pyspf's driver sets
    options.receiver = "receiver.example";

    spf::Zone zone;
    bool zone_open = true;
    std::optional<spf::Checker> checker;
    int total = 0, passed = 0;
    std::vector<std::string> failures;
    std::string line;
    while (std::getline(in, line)) {
        auto f = fields(line);
        if (f[0] == "scenario") {
            zone = spf::Zone();
            zone_open = true;
        } else if (f[0] == "rr" && f.size() == 4) {
            zone.add(f[1], type_named(f[2]).value_or(spf::RrType::txt), f[3]);
        } else if (f[0] == "timeout" && f.size() == 2) {
            zone.add_timeout(f[1]);
        } else if (f[0] == "test" && f.size() == 7) {
            if (zone_open) {
                checker.emplace(suite_dns(zone), options);
                zone_open = false;
            }
            if (!only.empty() && !only.count(f[1])) continue;
            ++total;
            spf::Verdict v = checker->check({f[2], f[3], f[4]});
            std::string got(spf::to_string(v.result));
            std::stringstream expected(f[5]);
            bool ok = false;
            for (std::string r; std::getline(expected, r, ',');)
                ok |= r == got;
            std::string detail;
            if (ok && !f[6].empty() && v.explanation != f[6]) {
                ok = false;
                detail = " explanation '" + v.explanation + "', expected '" + f[6] + "'";
            }
            if (ok) {
                ++passed;
            } else {
                std::string why = v.problem.empty() ? "" : " (" + v.problem + ")";
                failures.push_back(f[1] + ": expected " + f[5] + " got " + got + why + detail);
            }
        }
    }
    std::cout << "SPF RFC 7208 suite: " << passed << " of " << total << "\n";
    for (const auto& f : failures)
        std::cout << f << "\n";
    return 0;
}
