// asn/format.hpp - the on-disk layout of authguard's own IP-to-AS table,
// shared by its writer (build.cpp) and its reader (table.cpp).
//
// Every hook process opens the table for one or two lookups, so the file is
// searched where it lies, never loaded: opening checks the header against
// the file's size (O(1)) and nothing else, and a lookup is a binary search
// that reads a few small pieces of the file (by pread for a table's first
// lookups, then through a read-only mapping; see table.cpp). All integers
// are little-endian and fixed width; every section starts at a multiple
// of 8.
//
//   header, 192 bytes:
//     0    magic              "AGASN\0\r\n" (the NUL and CR LF catch a copy
//                             made in text mode)
//     8    u32 version        1
//     12   u32 header_size    192
//     16   u64 file_size      of the whole file: a truncated copy fails open
//     24   i64 built          unix seconds
//     32   u32 v4_count       IPv4 ranges
//     36   u32 v6_count       IPv6 ranges
//     40   u32 provider_count
//     44   u32 description_offset, 48 u32 description_length (in strings)
//     52   u32 reserved, 0
//     56   8 sections, each {u64 offset; u64 size}, in bytes from the file's
//          start, in the order of enum Section below
//     184  reserved, 0
//
//   v4_index   u32[65537]: v4_index[p] is the first range whose start is at
//              or above p << 16 (p: an address's top 16 bits), and
//              v4_index[65536] = v4_count. A lookup searches only the ranges
//              starting in its /16, plus the one just before them (which may
//              reach into it): one read of starts (or one page), not the
//              ~19 probes of a search over all of them.
//   v4_starts  u32[v4_count]: each range's first address, ascending. The
//              search keys alone, densely packed.
//   v4_spans   {u32 last; u32 provider}[v4_count]: the range's last address
//              (inclusive) and its index into providers.
//   v6_index   u32[65537], as v4_index, by the top 16 bits of IPv6 addresses
//   v6_starts  {u64 high; u64 low}[v6_count]: the first address's top and
//              bottom 64 bits
//   v6_spans   {u64 last_high; u64 last_low; u32 provider; u32 reserved}[v6_count]
//   providers  {u32 asn; u32 name_offset; u32 name_length}[provider_count],
//              by ascending AS number; the name is in strings
//   strings    the providers' names as the source gave them (no
//              terminators), then the description: the inputs' file names
//
// Ranges of one family never overlap and are sorted; an address between two
// ranges has no provider. Adjacent ranges of one provider are merged.
//
// The reader trusts nothing in the file: the header is checked at open
// (section bounds, alignment, sizes against the counts, the recorded file
// size), and every index read during a lookup (the bucket bounds, the
// provider index, the name's place in strings) is checked before it is
// used; a bad one makes that lookup answer nullopt. A file whose arrays are
// not sorted gives wrong answers but never a read outside the mapping.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace authguard::asn::format {

inline constexpr std::array<char, 8> magic{'A', 'G', 'A', 'S', 'N', '\0', '\r', '\n'};
inline constexpr std::uint32_t version = 1;
inline constexpr std::size_t header_size = 192;

// Header fields, by byte offset.
inline constexpr std::size_t at_version = 8;
inline constexpr std::size_t at_header_size = 12;
inline constexpr std::size_t at_file_size = 16;
inline constexpr std::size_t at_built = 24;
inline constexpr std::size_t at_v4_count = 32;
inline constexpr std::size_t at_v6_count = 36;
inline constexpr std::size_t at_provider_count = 40;
inline constexpr std::size_t at_description_offset = 44;
inline constexpr std::size_t at_description_length = 48;
inline constexpr std::size_t at_sections = 56;
inline constexpr std::size_t section_entry_size = 16; // u64 offset, u64 size

enum Section : std::size_t {
    v4_index,
    v4_starts,
    v4_spans,
    v6_index,
    v6_starts,
    v6_spans,
    providers,
    strings,
    section_count
};
static_assert(at_sections + section_count * section_entry_size <= header_size);

// The buckets of the first-level index: the top 16 bits of an address.
inline constexpr int index_bits = 16;
inline constexpr std::size_t index_entries = (std::size_t{1} << index_bits) + 1;

inline constexpr std::size_t index_entry_size = 4;
inline constexpr std::size_t v4_start_size = 4;
inline constexpr std::size_t v4_span_size = 8;
inline constexpr std::size_t v6_start_size = 16;
inline constexpr std::size_t v6_span_size = 24;
inline constexpr std::size_t provider_size = 12;
inline constexpr std::size_t section_alignment = 8;

// Reads a little-endian integer from possibly unaligned bytes (memcpy:
// a plain load on x86, and no aliasing or alignment rule broken).
template <class T> T load(const unsigned char* p) {
    static_assert(std::is_unsigned_v<T>);
    if constexpr (std::endian::native == std::endian::little) {
        T value;
        std::memcpy(&value, p, sizeof value);
        return value;
    } else {
        T value = 0;
        for (std::size_t i = sizeof(T); i-- > 0;)
            value = static_cast<T>((value << 8) | p[i]);
        return value;
    }
}

template <class T> void store(unsigned char* p, T value) {
    static_assert(std::is_unsigned_v<T>);
    for (std::size_t i = 0; i < sizeof(T); ++i)
        p[i] = static_cast<unsigned char>(value >> (8 * i));
}

} // namespace authguard::asn::format
