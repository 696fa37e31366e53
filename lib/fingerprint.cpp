// fingerprint.cpp - SipHash-2-4 (Aumasson & Bernstein) and the truncation.
#include "authguard/fingerprint.hpp"

#include <array>
#include <cstring>
#include <string>

namespace authguard {

namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

std::uint64_t load_le64(const unsigned char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

struct SipState {
    std::uint64_t v0, v1, v2, v3;
    void round() {
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
    }
    void absorb(std::uint64_t m) {
        v3 ^= m;
        round();
        round();
        v0 ^= m;
    }
};

} // namespace

std::uint64_t siphash24(std::string_view key16, std::string_view data) {
    std::array<unsigned char, 16> key{};
    std::memcpy(key.data(), key16.data(), std::min<std::size_t>(16, key16.size()));
    std::uint64_t k0 = load_le64(key.data()), k1 = load_le64(key.data() + 8);
    SipState s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL, k0 ^ 0x6c7967656e657261ULL,
               k1 ^ 0x7465646279746573ULL};
    auto bytes = reinterpret_cast<const unsigned char*>(data.data());
    std::size_t full = data.size() / 8 * 8;
    for (std::size_t i = 0; i < full; i += 8) s.absorb(load_le64(bytes + i));
    std::uint64_t last = static_cast<std::uint64_t>(data.size()) << 56;
    for (std::size_t i = full; i < data.size(); ++i)
        last |= static_cast<std::uint64_t>(bytes[i]) << (8 * (i - full));
    s.absorb(last);
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; ++i) s.round();
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

std::optional<std::uint16_t> password_fingerprint(std::string_view secret, int bits,
                                                  std::string_view user, std::string_view password) {
    if (secret.empty()) return std::nullopt;
    // The key is derived from the whole secret; the user is mixed in so equal
    // passwords of different users do not share a value.
    std::string key_material(secret);
    std::string key(16, '\0');
    std::uint64_t a = siphash24(std::string(16, 'a'), key_material);
    std::uint64_t b = siphash24(std::string(16, 'b'), key_material);
    std::memcpy(key.data(), &a, 8);
    std::memcpy(key.data() + 8, &b, 8);
    std::string message;
    message.reserve(user.size() + 1 + password.size()); // no reallocation leaves a copy behind
    message += user;
    message += '\0';
    message += password;
    std::uint64_t h = siphash24(key, message);
    ::explicit_bzero(message.data(), message.size());
    ::explicit_bzero(key.data(), key.size());
    if (bits < 1) bits = 1;
    if (bits > 16) bits = 16;
    return static_cast<std::uint16_t>(h >> (64 - bits));
}

} // namespace authguard
