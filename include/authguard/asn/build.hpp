// asn/build.hpp - turns the IP-to-AS tables people download into
// authguard's own table (asn/table.hpp), for `authguardctl asn-db build`.
//
// Inputs, plain or gzip-compressed, each told by its first data line (and
// its file name, for the numeric forms):
//   - ip-location-db's asn-ipv4.csv and asn-ipv6.csv,
//       start,end,asn,organisation      (RFC 4180 quoting: "Cloudflare, Inc.")
//     and asn-ipv4-num.csv, asn-ipv6-num.csv (start and end as decimal
//     integers, up to 2^128-1);
//   - iptoasn's ip2asn-v4.tsv, ip2asn-v6.tsv, ip2asn-combined.tsv,
//       range_start<TAB>range_end<TAB>AS_number<TAB>country_code<TAB>AS_description
//     and ip2asn-v4-u32.tsv (decimal starts and ends).
// Ranges of AS 0 ("Not routed") are dropped.
//
// Where ranges overlap, each address goes to the narrowest range holding
// it: a block a provider announces inside a wider one wins over the wider
// one. Between ranges of the same size, the one read first wins (inputs in
// the order given, lines in file order), so list the preferred source
// first. A provider's name is the first non-empty one read for its number.
// Adjacent ranges of one provider are merged.
//
// Everything is checked before anything is written: a bad line throws
// BuildError "FILE:LINE: reason" and leaves the output as it was. The table
// is written to a temporary file beside the output, synced, and renamed
// over it, so a hook maps either the old table or the whole new one.
#pragma once

#include "authguard/address.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace authguard::asn {

struct BuildError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class InputFormat {
    location_csv,        // ip-location-db asn-ipv4.csv / asn-ipv6.csv (textual addresses)
    location_csv_v4_num, // asn-ipv4-num.csv
    location_csv_v6_num, // asn-ipv6-num.csv
    iptoasn_tsv,         // ip2asn-v4.tsv, ip2asn-v6.tsv, ip2asn-combined.tsv
    iptoasn_tsv_v4_num,  // ip2asn-v4-u32.tsv
};

// "ip-location-db csv", "iptoasn tsv (u32)", ...
std::string_view format_name(InputFormat format);

// Which format a file is in, from its first data line and its name
// ("asn-ipv6-num.csv" says IPv6 where the numbers alone might not).
// nullopt when the line fits none.
std::optional<InputFormat> detect_format(std::string_view first_line,
                                         const std::filesystem::path& name);

// A header line ("start,end,asn,organisation"), which may stand first.
bool is_header_line(std::string_view line);

// One line's range: every address from `first` to `last` (inclusive, one
// family) belongs to AS `asn` (0: not routed).
struct SourceRange {
    Address first;
    Address last;
    std::uint32_t asn = 0;
    std::string name; // unquoted; may be empty
};

// Longest provider name accepted (real ones are under 200 bytes).
inline constexpr std::size_t max_name_length = 1024;

// Parses one line (without its newline; a trailing CR is ignored). nullopt
// for a blank line or a "#" comment. Throws BuildError with the reason
// (without file and line) for anything else that is not a valid range.
// Never reads outside `line`; meant to be fed any bytes (fuzzing).
std::optional<SourceRange> parse_line(std::string_view line, InputFormat format);

struct InputStats {
    std::filesystem::path path;
    InputFormat format = InputFormat::location_csv;
    std::uint64_t lines = 0;      // lines read, blank and header lines included
    std::uint64_t ranges = 0;     // ranges of a routed AS
    std::uint64_t not_routed = 0; // AS 0 ranges, dropped
};

struct BuildStats {
    std::vector<InputStats> inputs;
    std::uint64_t ranges_v4 = 0; // in the table, after overlaps and merging
    std::uint64_t ranges_v6 = 0;
    std::uint64_t providers = 0;
    std::uint64_t bytes = 0; // the table file's size
};

// Reads every input and writes the table to `out` (built at `built_time`,
// unix seconds). Throws BuildError naming the file (and line) at fault:
// an input that cannot be read, a bad line, an input without any range,
// an output that cannot be written.
BuildStats build_table(const std::vector<std::filesystem::path>& inputs,
                       const std::filesystem::path& out, std::int64_t built_time);

} // namespace authguard::asn
