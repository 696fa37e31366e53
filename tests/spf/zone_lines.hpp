// zone_lines.hpp - the tab-separated zone and query lines that the SPF test
// drivers read (tests/spf/rfc7208-to-tsv.py and pyspf-compare write them):
// fields split on tabs, with \t, \n and \\ escapes inside a field.
#pragma once

#include "authguard/spf/dns.hpp"

#include <optional>
#include <string>
#include <vector>

namespace authguard::spf::testing {

inline std::vector<std::string> fields(const std::string& line) {
    std::vector<std::string> out(1);
    for (std::size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (c == '\t') {
            out.emplace_back();
        } else if (c == '\\' && i + 1 < line.size()) {
            char n = line[++i];
            out.back() += n == 't' ? '\t' : n == 'n' ? '\n' : n;
        } else {
            out.back() += c;
        }
    }
    return out;
}

// A record type's name; nullopt for one the layer does not serve.
inline std::optional<RrType> type_named(const std::string& t) {
    if (t == "A") return RrType::a;
    if (t == "AAAA") return RrType::aaaa;
    if (t == "MX") return RrType::mx;
    if (t == "PTR") return RrType::ptr;
    if (t == "CNAME") return RrType::cname;
    if (t == "TXT") return RrType::txt;
    return std::nullopt;
}

} // namespace authguard::spf::testing
