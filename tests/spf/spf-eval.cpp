// spf-eval.cpp - evaluates SPF checks with authguard's SPF layer (lib/spf)
// over zones read from stdin, for tests/spf/pyspf-compare, which sends the
// same zones and checks to pyspf. Input, one item a line, TAB-separated
// (\t, \n and \\ escaped):
//     zone                          a new, empty zone
//     rr NAME TYPE DATA             TYPE: TXT A AAAA MX PTR CNAME
//     timeout NAME                  NAME's other types answer tempfail
//     query ID IP SENDER HELO       a check against the current zone
// Output, one line a query: "ID RESULT PROBLEM" (TAB-separated).
// The check runs in-process (timeout 0): the zone never waits.
#include "authguard/spf/check.hpp"
#include "zone_lines.hpp"

#include <iostream>
#include <optional>
#include <string>
#include <vector>

using namespace authguard;
using authguard::spf::testing::fields;
using authguard::spf::testing::type_named;

int main() {
    spf::Options options;
    options.timeout = std::chrono::milliseconds(0);
    options.receiver = "receiver.example";
    spf::Zone zone;
    std::optional<spf::Checker> checker;
    std::string line;
    while (std::getline(std::cin, line)) {
        auto f = fields(line);
        if (f[0] == "zone") {
            zone = spf::Zone();
            checker.reset();
        } else if (f[0] == "rr" && f.size() == 4) {
            auto type = type_named(f[2]);
            if (!type) {
                std::cerr << "spf-eval: unknown type '" << f[2] << "'\n";
                return 2;
            }
            zone.add(f[1], *type, f[3]);
            checker.reset();
        } else if (f[0] == "timeout" && f.size() == 2) {
            zone.add_timeout(f[1]);
            checker.reset();
        } else if (f[0] == "query" && f.size() == 5) {
            if (!checker) checker.emplace(spf::Dns::zone(zone), options);
            spf::Verdict v = checker->check({f[2], f[3], f[4]});
            std::cout << f[1] << '\t' << spf::to_string(v.result) << '\t' << v.problem << '\n';
        } else if (!f[0].empty()) {
            std::cerr << "spf-eval: bad line '" << line << "'\n";
            return 2;
        }
    }
    return 0;
}
