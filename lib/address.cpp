// address.cpp - parsing and printing of client addresses and networks.
#include "authguard/address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace authguard {

namespace {

constexpr std::array<std::uint8_t, 12> mapped_prefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool starts_with_mapped(const std::array<std::uint8_t, 16>& b) {
    return std::memcmp(b.data(), mapped_prefix.data(), mapped_prefix.size()) == 0;
}

} // namespace

std::optional<Address> parse_address(std::string_view text) {
    // inet_pton needs a NUL-terminated string; 45 characters is the longest
    // textual IPv6 address, so anything longer is refused before copying.
    if (text.empty() || text.size() > 45 || text.find('\0') != std::string_view::npos)
        return std::nullopt;
    char buf[46];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';

    Address a;
    if (inet_pton(AF_INET, buf, a.bytes.data()) == 1) {
        a.family = Address::Family::v4;
        return a;
    }
    if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1) {
        if (starts_with_mapped(a.bytes)) {
            Address v4;
            v4.family = Address::Family::v4;
            std::memcpy(v4.bytes.data(), a.bytes.data() + 12, 4);
            return v4;
        }
        a.family = Address::Family::v6;
        return a;
    }
    return std::nullopt;
}

std::string Address::to_string() const {
    char buf[INET6_ADDRSTRLEN];
    int af = family == Family::v4 ? AF_INET : AF_INET6;
    if (inet_ntop(af, bytes.data(), buf, sizeof buf) == nullptr) return "unknown";
    return buf;
}

Address Address::masked(int prefix) const {
    Address out = *this;
    int bits = bit_length();
    if (prefix < 0) prefix = 0;
    if (prefix > bits) prefix = bits;
    for (int i = 0; i < bits / 8; ++i) {
        int keep = prefix - i * 8;
        if (keep >= 8) continue;
        out.bytes[i] = keep <= 0 ? 0 : static_cast<std::uint8_t>(out.bytes[i] & (0xff << (8 - keep)));
    }
    return out;
}

std::string network_key(const Address& address, int prefix) {
    return address.masked(prefix).to_string() + "/" +
           std::to_string(std::min(prefix, address.bit_length()));
}

bool Cidr::contains(const Address& address) const {
    return address.family == base.family && address.masked(prefix) == base.masked(prefix);
}

std::optional<Cidr> parse_cidr(std::string_view text) {
    auto slash = text.find('/');
    auto base = parse_address(text.substr(0, slash));
    if (!base) return std::nullopt;
    Cidr c{*base, base->bit_length()};
    if (slash != std::string_view::npos) {
        auto digits = text.substr(slash + 1);
        int prefix = -1;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty() ||
            prefix < 0 || prefix > base->bit_length())
            return std::nullopt;
        c.prefix = prefix;
    }
    c.base = c.base.masked(c.prefix);
    return c;
}

} // namespace authguard
