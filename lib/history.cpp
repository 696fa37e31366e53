// history.cpp - the text encoding of observations shared by every store.
#include "authguard/history.hpp"

#include <charconv>

namespace authguard {

std::string observation_field(Observation::Kind kind, std::string_view address) {
    std::string field(1, static_cast<char>(kind));
    field += '|';
    field += address;
    return field;
}

std::optional<Observation> parse_observation(std::string_view field, std::string_view value) {
    if (field.size() < 3 || field[1] != '|' || (field[0] != 's' && field[0] != 'f'))
        return std::nullopt;
    Observation o;
    o.kind = static_cast<Observation::Kind>(field[0]);
    o.address = std::string(field.substr(2));

    const char* p = value.data();
    const char* end = value.data() + value.size();
    auto number = [&](std::int64_t& out) {
        while (p < end && *p == ' ') ++p;
        auto [next, ec] = std::from_chars(p, end, out);
        if (ec != std::errc{}) return false;
        p = next;
        return true;
    };
    if (!number(o.first) || !number(o.last) || !number(o.count)) return std::nullopt;
    const char* before_fingerprint = p;
    std::int64_t fp = 0;
    if (p < end && number(fp) && fp >= 0 && fp <= 0xffff)
        o.fingerprint = static_cast<std::uint16_t>(fp);
    else
        p = before_fingerprint;
    while (p < end && *p == ' ')
        ++p;
    if (p < end && *p == '@') {
        const char* word = ++p;
        while (p < end && *p != ' ')
            ++p;
        o.service.assign(word, p);
    }
    return o;
}

std::string observation_suffix(const std::optional<std::uint16_t>& fingerprint,
                               std::string_view service) {
    std::string out;
    if (fingerprint) out += " " + std::to_string(*fingerprint);
    std::string word;
    for (char c : service.substr(0, 16))
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') word += c;
    if (!word.empty()) out += " @" + word;
    return out;
}

std::string mark_field(std::string_view follower) {
    std::string field = "q|";
    field += follower;
    return field;
}

bool is_mark_field(std::string_view field) {
    return field.size() > 2 && field[0] == 'q' && field[1] == '|';
}

} // namespace authguard
