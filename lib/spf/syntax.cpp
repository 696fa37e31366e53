// spf/syntax.cpp - RFC 7208 §12's ABNF for SPF records, by hand: a record
// is split on spaces and each term checked against its rule. Only the
// grammar is checked here; what a macro expands to is libspf2's business.
#include "authguard/spf/syntax.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <vector>

namespace authguard::spf {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
    return is_alpha(c) || is_digit(c);
}

// macro-string; `in_exp` allows the c, r and t letters, which §7.3 keeps
// for explanation text. Returns an error, or nullopt.
std::optional<std::string> macro_string_error(std::string_view s, bool in_exp,
                                              bool* ends_with_macro = nullptr) {
    bool last_macro = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c != '%') {
            if (c < 0x21 || c > 0x7e) return "invalid character in '" + std::string(s) + "'";
            last_macro = false;
            continue;
        }
        if (i + 1 >= s.size()) return "'%' at the end of '" + std::string(s) + "'";
        char n = s[++i];
        if (n == '%' || n == '_' || n == '-') {
            last_macro = true;
            continue;
        }
        if (n != '{') return "invalid macro '%" + std::string(1, n) + "'";
        if (++i >= s.size()) return "unterminated macro in '" + std::string(s) + "'";
        char letter = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
        if (std::string_view("slodiphv").find(letter) == std::string_view::npos &&
            !(in_exp && std::string_view("crt").find(letter) != std::string_view::npos))
            return "invalid macro letter '" + std::string(1, s[i]) + "'";
        ++i;
        std::size_t digits = 0;
        std::size_t start = i;
        while (i < s.size() && is_digit(s[i]))
            ++i, ++digits;
        if (digits > 0) {
            std::string_view number = s.substr(start, digits);
            // A zero (or absurd) label count cannot be meant (§7.3).
            if (number.find_first_not_of('0') == std::string_view::npos || digits > 3)
                return "invalid macro transformer '" + std::string(number) + "'";
        }
        if (i < s.size() && (s[i] == 'r' || s[i] == 'R')) ++i;
        while (i < s.size() && std::string_view(".-+,/_=").find(s[i]) != std::string_view::npos)
            ++i;
        if (i >= s.size() || s[i] != '}') return "invalid macro in '" + std::string(s) + "'";
        last_macro = true;
    }
    if (ends_with_macro) *ends_with_macro = last_macro;
    return std::nullopt;
}

// domain-spec = macro-string domain-end; domain-end = "." toplabel ["."]
// or a macro-expand.
std::optional<std::string> domain_spec_error(std::string_view s) {
    if (s.empty()) return std::string("empty domain");
    bool ends_with_macro = false;
    if (auto e = macro_string_error(s, false, &ends_with_macro)) return e;
    if (ends_with_macro) return std::nullopt;
    std::string_view t = s;
    if (t.back() == '.') t.remove_suffix(1);
    std::size_t dot = t.rfind('.');
    if (dot == std::string_view::npos) return "'" + std::string(s) + "' is not a domain name";
    std::string_view top = t.substr(dot + 1);
    bool ok = !top.empty() && top.front() != '-' && top.back() != '-' &&
              std::all_of(top.begin(), top.end(), [](char c) { return is_alnum(c) || c == '-'; }) &&
              std::any_of(top.begin(), top.end(), [](char c) { return !is_digit(c); });
    // A literal part ending in a macro ("%{d}.com") is fine; the top label
    // itself must be literal and must not hold a macro's characters.
    if (!ok) return "invalid top label '" + std::string(top) + "' in '" + std::string(s) + "'";
    return std::nullopt;
}

// "/N" with no leading zero, N <= max; consumes the suffix from `s`.
bool take_cidr(std::string_view& s, int max, bool& bad) {
    std::size_t slash = s.rfind('/');
    if (slash == std::string_view::npos) return false;
    std::string_view n = s.substr(slash + 1);
    if (n.empty() || n.size() > 3 || !std::all_of(n.begin(), n.end(), is_digit)) return false;
    if (n.size() > 1 && n[0] == '0') bad = true;
    if (std::stoi(std::string(n)) > max) bad = true;
    s.remove_suffix(n.size() + 1);
    return true;
}

std::optional<std::string> mechanism_error(std::string_view term) {
    std::string_view t = term;
    if (!t.empty() && std::string_view("+-?~").find(t.front()) != std::string_view::npos)
        t.remove_prefix(1);
    std::size_t end = t.find_first_of(":/");
    std::string_view name = t.substr(0, end);
    std::string_view rest = end == std::string_view::npos ? std::string_view() : t.substr(end);
    std::string quoted = "'" + std::string(term) + "'";
    auto arg = [&](bool required) -> std::optional<std::string> {
        if (rest.empty()) {
            if (required) return "missing domain in " + quoted;
            return std::nullopt;
        }
        if (rest.front() != ':') return "invalid " + quoted;
        return domain_spec_error(rest.substr(1));
    };
    if (iequals(name, "all")) {
        if (!rest.empty()) return "invalid " + quoted;
        return std::nullopt;
    }
    if (iequals(name, "include") || iequals(name, "exists")) return arg(true);
    if (iequals(name, "ptr")) return arg(false);
    if (iequals(name, "a") || iequals(name, "mx")) {
        bool bad = false;
        // dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]
        std::string_view before = rest;
        if (take_cidr(rest, 128, bad)) {
            if (rest.size() >= 1 && rest.back() == '/') {
                rest.remove_suffix(1); // "//N": the IPv6 length
                take_cidr(rest, 32, bad);
            } else {
                // "/N" alone is the IPv4 length.
                rest = before;
                take_cidr(rest, 32, bad);
            }
        }
        if (bad) return "invalid prefix length in " + quoted;
        return arg(false);
    }
    if (iequals(name, "ip4") || iequals(name, "ip6")) {
        bool v6 = iequals(name, "ip6");
        if (rest.size() < 2 || rest.front() != ':') return "missing address in " + quoted;
        rest.remove_prefix(1);
        bool bad = false;
        take_cidr(rest, v6 ? 128 : 32, bad);
        if (bad) return "invalid prefix length in " + quoted;
        unsigned char buf[16];
        std::string address(rest);
        if (inet_pton(v6 ? AF_INET6 : AF_INET, address.c_str(), buf) != 1)
            return "invalid address in " + quoted;
        return std::nullopt;
    }
    return "unknown mechanism " + quoted;
}

std::optional<std::string> terms_error_impl(const std::vector<std::string_view>& terms) {
    bool redirect = false, exp = false;
    for (std::string_view term : terms) {
        for (char c : term)
            if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e)
                return "non-ASCII or control character in '" + std::string(term) + "'";
        std::size_t eq = term.find_first_of("=:/");
        if (eq != std::string_view::npos && term[eq] == '=') {
            std::string_view name = term.substr(0, eq);
            std::string_view value = term.substr(eq + 1);
            bool name_ok = !name.empty() && is_alpha(name.front()) &&
                           std::all_of(name.begin(), name.end(), [](char c) {
                               return is_alnum(c) || c == '-' || c == '_' || c == '.';
                           });
            if (!name_ok) return "invalid modifier '" + std::string(term) + "'";
            if (iequals(name, "redirect") || iequals(name, "exp")) {
                bool& seen = iequals(name, "redirect") ? redirect : exp;
                if (seen) return "more than one " + std::string(name) + "= modifier";
                seen = true;
                if (auto e = domain_spec_error(value)) return e;
            } else if (auto e = macro_string_error(value, false)) {
                return e;
            }
            continue;
        }
        if (auto e = mechanism_error(term)) return e;
    }
    return std::nullopt;
}

std::vector<std::string_view> split(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        if (s[i] == ' ') {
            ++i;
            continue;
        }
        std::size_t j = s.find(' ', i);
        if (j == std::string_view::npos) j = s.size();
        out.push_back(s.substr(i, j - i));
        i = j;
    }
    return out;
}

} // namespace

std::optional<std::string> explanation_error(std::string_view text) {
    for (std::string_view part : split(text))
        if (auto e = macro_string_error(part, true)) return e;
    return std::nullopt;
}

std::string libspf2_form(std::string_view record, bool client_v6, std::string_view any_marker) {
    std::vector<std::string_view> terms = split(record.substr(6));
    bool has_all = false;
    for (std::string_view t : terms) {
        std::string_view m = t;
        if (!m.empty() && std::string_view("+-?~").find(m.front()) != std::string_view::npos)
            m.remove_prefix(1);
        if (iequals(m, "all")) has_all = true;
    }
    std::string out = "v=spf1";
    // libspf2 evaluates a redirect= where it stands; §6.1 evaluates it
    // after every mechanism, wherever it is written: modifiers go last.
    std::string modifiers;
    for (std::string_view term : terms) {
        std::size_t eq = term.find_first_of("=:/");
        if (eq != std::string_view::npos && term[eq] == '=') {
            std::string_view name = term.substr(0, eq);
            if (iequals(name, "exp") || (iequals(name, "redirect") && !has_all))
                modifiers += " " + std::string(term);
            continue;
        }
        std::string_view t = term;
        std::string qualifier;
        if (std::string_view("+-?~").find(t.front()) != std::string_view::npos) {
            qualifier = std::string(1, t.front());
            t.remove_prefix(1);
        }
        std::size_t end = t.find_first_of(":/");
        std::string_view name = t.substr(0, end);
        std::string_view rest = end == std::string_view::npos ? std::string_view() : t.substr(end);
        if (iequals(name, "ip4") || iequals(name, "ip6")) {
            bool v6 = iequals(name, "ip6");
            std::string_view r = rest;
            bool bad = false;
            std::string_view before = r;
            if (take_cidr(r, v6 ? 128 : 32, bad) && before.substr(r.size()) == "/0") {
                out += v6 ? " " + qualifier + "ip6:::/1 " + qualifier + "ip6:8000::/1"
                          : " " + qualifier + "ip4:0.0.0.0/1 " + qualifier + "ip4:128.0.0.0/1";
                continue;
            }
        } else if (iequals(name, "a") || iequals(name, "mx")) {
            // Split off the dual-cidr-length as record_error() reads it.
            std::string_view r = rest;
            bool bad = false;
            std::string v4, v6;
            std::string_view before = r;
            if (take_cidr(r, 128, bad)) {
                if (!r.empty() && r.back() == '/') {
                    v6 = std::string(before.substr(r.size()));
                    r.remove_suffix(1);
                    std::string_view b2 = r;
                    if (take_cidr(r, 32, bad)) v4 = std::string(b2.substr(r.size()));
                } else {
                    r = before;
                    take_cidr(r, 32, bad);
                    v4 = std::string(before.substr(r.size()));
                }
            }
            std::string_view mine = client_v6 ? std::string_view(v6) : std::string_view(v4);
            std::string domain = r.empty() ? std::string("%{d}") : std::string(r.substr(1));
            if (mine == "/0") {
                out += " " + qualifier + std::string(name) + ":" + domain + std::string(any_marker);
                continue;
            }
            // The other family's length is never used; libspf2 refuses a 0.
            if (v4 == "/0" || v6 == "/0") {
                out += " " + qualifier + std::string(name) + ":" + domain;
                if (!mine.empty())
                    out += client_v6 ? "//" + std::string(mine.substr(1)) : std::string(mine);
                continue;
            }
        }
        out += " " + std::string(term);
    }
    return out + modifiers;
}

bool is_spf_record(std::string_view text) {
    return text.size() >= 6 && iequals(text.substr(0, 6), "v=spf1") &&
           (text.size() == 6 || text[6] == ' ');
}

std::optional<std::string> record_error(std::string_view record) {
    if (!is_spf_record(record)) return std::string("not an SPF record");
    return terms_error_impl(split(record.substr(6)));
}

std::optional<std::string> terms_error(std::string_view terms) {
    return terms_error_impl(split(terms));
}

bool valid_domain(std::string_view domain) {
    if (domain.empty() || domain.front() == '[' || domain.size() > 253) return false;
    if (domain.back() == '.') domain.remove_suffix(1);
    int labels = 0;
    std::size_t i = 0;
    while (i <= domain.size()) {
        std::size_t j = domain.find('.', i);
        if (j == std::string_view::npos) j = domain.size();
        std::size_t length = j - i;
        if (length == 0 || length > 63) return false;
        ++labels;
        i = j + 1;
    }
    return labels >= 2;
}

} // namespace authguard::spf
