// hash.hpp - FNV-1a, a stable 64-bit hash of names: short LMDB keys for long
// ones, authguardctl follow's ids and file recognition; and a faster one for
// in-memory tables, which may change between versions. Not for secrets
// (fingerprint.hpp keys its hash).
#pragma once

#include <cstdint>
#include <cstring>
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

// A word at a time, for tables that compare the bytes on a hit (addresses,
// user names, log texts). Each word is multiplied in: a fold without (a
// rotation and one multiplication at the end) gave every dotted quad whose
// bytes 0-7 and 8-15 xor alike the same hash, and an open-addressing table
// of addresses long probe runs.
inline std::uint64_t table_hash(std::string_view bytes) {
    constexpr std::uint64_t multiplier = 0xff51afd7ed558ccdULL;
    std::uint64_t h = bytes.size() * 0x9e3779b97f4a7c15ULL;
    std::size_t i = 0;
    for (; i + 8 <= bytes.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, bytes.data() + i, 8);
        h = (h ^ w) * multiplier;
        h ^= h >> 32;
    }
    // The last bytes: one load of the text's last word, its hashed bytes
    // shifted out (a copy of a variable length into a word would be a call,
    // and its read-back stalls on the store).
    std::uint64_t tail = 0;
    std::size_t left = bytes.size() - i;
    if (left > 0 && bytes.size() >= 8) {
        std::memcpy(&tail, bytes.data() + bytes.size() - 8, 8);
        tail >>= 8 * (8 - left);
    } else {
        for (std::size_t k = 0; k < left; ++k)
            tail |= std::uint64_t{static_cast<unsigned char>(bytes[i + k])} << (8 * k);
    }
    h = (h ^ tail) * multiplier;
    return h ^ (h >> 29);
}

} // namespace authguard
