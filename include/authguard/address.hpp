// address.hpp - client addresses and the network keys the detector counts.
//
// A login's client address arrives as text from tcpserver (TCPREMOTEIP,
// TCP6REMOTEIP) or a log line. It is parsed once into an Address; IPv4-mapped
// IPv6 (::ffff:a.b.c.d) becomes plain IPv4 so one client never counts twice.
// Networks are the address truncated to a prefix and printed canonically.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace authguard {

struct Address {
    enum class Family : std::uint8_t { v4, v6 };
    Family family = Family::v4;
    std::array<std::uint8_t, 16> bytes{}; // v4 uses the first 4

    int bit_length() const { return family == Family::v4 ? 32 : 128; }
    // Canonical text: dotted quad, or RFC 5952 IPv6.
    std::string to_string() const;
    // The address with all bits past `prefix` cleared.
    Address masked(int prefix) const;
    bool operator==(const Address&) const = default;
};

// Parses IPv4, IPv6 (brackets and a %zone are refused) and ::ffff:-mapped
// IPv4. Returns nullopt for anything else.
std::optional<Address> parse_address(std::string_view text);

// "198.51.100.0/24", "2001:db8::/32".
std::string network_key(const Address& address, int prefix);

// A CIDR block: "192.0.2.0/24", "2001:db8::/32", or a bare address.
struct Cidr {
    Address base;
    int prefix = 0;
    bool contains(const Address& address) const;
};
std::optional<Cidr> parse_cidr(std::string_view text);

} // namespace authguard
