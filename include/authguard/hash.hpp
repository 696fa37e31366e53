// hash.hpp - FNV-1a, a stable 64-bit hash of names: short LMDB keys for long
// ones, authguardctl follow's ids and file recognition. Not for secrets
// (fingerprint.hpp keys its hash).
#pragma once

#include <cstdint>
#include <string_view>

namespace authguard {

inline std::uint64_t fnv1a(std::string_view bytes) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

} // namespace authguard
