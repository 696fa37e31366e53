// asn/build.cpp - reads downloaded IP-to-AS tables (ip-location-db CSV,
// iptoasn TSV; plain or gzip) and writes authguard's own table (format.hpp)
// for `authguardctl asn-db build`. See asn/build.hpp for the rules: which
// range wins an overlap, which name a provider gets, how the file is
// replaced.
//
// Every byte of an input is untrusted: lines are bounded, every field is
// checked, and a bad line stops the build before anything is written.
#include "authguard/asn/build.hpp"

#include "authguard/fd.hpp"
#include "format.hpp"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <system_error>
#include <unordered_map>

namespace authguard::asn {

namespace {

namespace fmt = format;
__extension__ using u128 = unsigned __int128;

constexpr u128 u128_max = ~u128{0};
constexpr std::size_t max_line_length = 64 * 1024;

std::string system_error_text(int error) {
    return std::generic_category().message(error);
}

// A field quoted in an error message: bounded, so a huge line cannot make
// a huge message (authguardctl escapes the bytes when it prints it).
std::string quoted(std::string_view field) {
    constexpr std::size_t shown = 60;
    if (field.size() <= shown) return "'" + std::string(field) + "'";
    return "'" + std::string(field.substr(0, shown)) + "...'";
}

[[noreturn]] void bad(const std::string& reason) {
    throw BuildError(reason);
}

std::string_view without_cr(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

bool is_blank(std::string_view line) {
    return line.find_first_not_of(" \t") == std::string_view::npos;
}

bool all_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Splits an RFC 4180 CSV line: a field may be quoted, with "" standing for
// a quote; commas inside quotes belong to the field. A record spanning
// lines (a newline inside quotes) is refused: no ASN table has one.
std::vector<std::string> split_csv(std::string_view line) {
    std::vector<std::string> fields;
    std::size_t i = 0;
    for (;;) {
        std::string field;
        if (i < line.size() && line[i] == '"') {
            ++i;
            for (;;) {
                if (i >= line.size()) bad("a quoted field is not closed");
                if (line[i] == '"') {
                    if (i + 1 < line.size() && line[i + 1] == '"') {
                        field += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                field += line[i++];
            }
            if (i < line.size() && line[i] != ',') bad("text after a quoted field's closing quote");
        } else {
            std::size_t end = std::min(line.find(',', i), line.size());
            std::string_view raw = line.substr(i, end - i);
            if (raw.find('"') != std::string_view::npos) bad("a quote inside an unquoted field");
            field.assign(raw);
            i = end;
        }
        fields.push_back(std::move(field));
        if (i >= line.size()) return fields;
        ++i; // the comma
    }
}

std::vector<std::string> split_tsv(std::string_view line) {
    std::vector<std::string> fields;
    for (;;) {
        std::size_t tab = line.find('\t');
        fields.emplace_back(line.substr(0, tab));
        if (tab == std::string_view::npos) return fields;
        line.remove_prefix(tab + 1);
    }
}

// A decimal integer of up to 128 bits; nullopt when not digits or too big.
std::optional<u128> parse_decimal(std::string_view text) {
    if (!all_digits(text)) return std::nullopt;
    u128 value = 0;
    for (char c : text) {
        unsigned digit = static_cast<unsigned>(c - '0');
        if (value > (u128_max - digit) / 10) return std::nullopt;
        value = value * 10 + digit;
    }
    return value;
}

Address address_of(Address::Family family, u128 value) {
    Address a;
    a.family = family;
    int length = family == Address::Family::v4 ? 4 : 16;
    for (int i = length - 1; i >= 0; --i) {
        a.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(value);
        value >>= 8;
    }
    return a;
}

u128 value_of(const Address& a) {
    u128 value = 0;
    int length = a.family == Address::Family::v4 ? 4 : 16;
    for (int i = 0; i < length; ++i)
        value = (value << 8) | a.bytes[static_cast<std::size_t>(i)];
    return value;
}

// A textual address as the table writes it. Unlike parse_address, an
// IPv4-mapped IPv6 address stays IPv6: a range's family is what it says.
Address parse_text_address(std::string_view text, const char* which) {
    char buf[64];
    bool v6 = text.find(':') != std::string_view::npos;
    Address a;
    a.family = v6 ? Address::Family::v6 : Address::Family::v4;
    if (!text.empty() && text.size() < sizeof buf && text.find('\0') == std::string_view::npos) {
        std::memcpy(buf, text.data(), text.size());
        buf[text.size()] = '\0';
        if (::inet_pton(v6 ? AF_INET6 : AF_INET, buf, a.bytes.data()) == 1) return a;
    }
    bad(std::string("bad ") + which + " address " + quoted(text));
}

Address parse_numeric_address(std::string_view text, Address::Family family, const char* which) {
    if (!all_digits(text)) bad(std::string("bad ") + which + " " + quoted(text) + ": not a number");
    auto value = parse_decimal(text);
    bool v4 = family == Address::Family::v4;
    if (!value || (v4 && *value > std::numeric_limits<std::uint32_t>::max()))
        bad(std::string(which) + " " + quoted(text) + " is past the last " +
            (v4 ? "IPv4" : "IPv6") + " address");
    return address_of(family, *value);
}

std::uint32_t parse_asn(std::string_view text) {
    auto value = parse_decimal(text);
    if (!value || *value > std::numeric_limits<std::uint32_t>::max())
        bad("bad AS number " + quoted(text));
    return static_cast<std::uint32_t>(*value);
}

std::string lower_file_name(const std::filesystem::path& name) {
    std::string s = name.filename().string();
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

bool looks_like_address(std::string_view s) {
    return !s.empty() &&
           (s.find('.') != std::string_view::npos || s.find(':') != std::string_view::npos);
}

// ---- reading an input ----

// Lines of a plain or gzip-compressed file (zlib reads plain files as they
// are), each at most max_line_length bytes.
class LineReader {
  public:
    explicit LineReader(const std::filesystem::path& path)
        : path_(path), file_(::gzopen(path.c_str(), "rb"), &::gzclose) {
        if (!file_) bad(path.string() + ": cannot open: " + system_error_text(errno));
        ::gzbuffer(file_.get(), 256 * 1024);
    }

    // The next line, without its newline; valid until the next call.
    // false at the end of the input.
    bool next(std::string_view& line) {
        for (;;) {
            const char* start = buffer_.data() + begin_;
            if (const void* nl = std::memchr(start, '\n', end_ - begin_)) {
                std::size_t length = static_cast<std::size_t>(static_cast<const char*>(nl) - start);
                return take(line, length, length + 1);
            }
            if (end_ - begin_ > max_line_length) too_long();
            if (at_eof_) return begin_ < end_ && take(line, end_ - begin_, end_ - begin_);
            fill();
        }
    }

    std::uint64_t line_number() const { return line_number_; }

  private:
    bool take(std::string_view& line, std::size_t length, std::size_t consumed) {
        if (length > max_line_length) too_long();
        ++line_number_;
        line = std::string_view(buffer_.data() + begin_, length);
        begin_ += consumed;
        return true;
    }

    [[noreturn]] void too_long() const {
        bad(path_.string() + ":" + std::to_string(line_number_ + 1) + ": line longer than " +
            std::to_string(max_line_length) + " bytes");
    }

    void fill() {
        std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
        int n = ::gzread(file_.get(), buffer_.data() + end_,
                         static_cast<unsigned>(buffer_.size() - end_));
        if (n < 0) {
            int code = Z_OK;
            const char* message = ::gzerror(file_.get(), &code);
            std::string why = code == Z_ERRNO ? system_error_text(errno)
                                              : std::string("corrupt gzip data (") + message + ")";
            bad(path_.string() + ": cannot read: " + why);
        }
        if (n == 0) {
            // zlib ends a gzip stream cut short as if it were complete, and
            // only gzerror tells.
            int code = Z_OK;
            const char* message = ::gzerror(file_.get(), &code);
            if (code != Z_OK)
                bad(path_.string() + ": cannot read: corrupt gzip data (" + message + ")");
            at_eof_ = true;
        }
        end_ += static_cast<std::size_t>(n);
    }

    std::filesystem::path path_;
    std::unique_ptr<gzFile_s, int (*)(gzFile)> file_;
    std::vector<char> buffer_ = std::vector<char>(4 * max_line_length);
    std::size_t begin_ = 0, end_ = 0;
    bool at_eof_ = false;
    std::uint64_t line_number_ = 0;
};

// ---- resolving overlaps ----

// One input range of one family, as numbers (IPv4 in a uint32).
template <class Key> struct Claim {
    Key first, last;
    std::uint32_t asn;
    std::uint64_t order; // input order: the earlier wins a tie
};

template <class Key> struct Piece {
    Key first, last;
    std::uint32_t asn;
};

// Whether an interval ending at `last` overlaps or is adjacent to one
// starting at `first`.
template <class Key> bool touches(Key last, Key first) {
    return last >= first || last + 1 == first; // (last < first here: no overflow)
}

// Gives each address to the narrowest claim holding it (the earliest among
// equally wide ones): claims are taken narrowest first and each gets only
// what no earlier claim took. `covered` holds what is taken as disjoint,
// non-adjacent intervals, merged as claims join them, so every claim walks
// only over intervals it then merges away: O(n log n) in all, also for
// deeply nested input.
template <class Key> std::vector<Piece<Key>> resolve(std::vector<Claim<Key>> claims) {
    std::sort(claims.begin(), claims.end(), [](const Claim<Key>& a, const Claim<Key>& b) {
        Key wa = a.last - a.first, wb = b.last - b.first;
        return wa != wb ? wa < wb : a.order < b.order;
    });
    std::map<Key, Key> covered; // first -> last
    std::vector<Piece<Key>> pieces;
    for (const auto& c : claims) {
        Key cursor = c.first;
        bool rest_taken = false;
        Key merged_first = c.first, merged_last = c.last;
        auto it = covered.lower_bound(c.first);
        if (it != covered.begin() && touches(std::prev(it)->second, c.first)) --it;
        while (it != covered.end() && touches(c.last, it->first)) {
            auto [first, last] = *it;
            if (!rest_taken && first <= c.last && last >= c.first) {
                if (first > cursor) pieces.push_back({cursor, first - 1, c.asn});
                if (last >= c.last)
                    rest_taken = true;
                else
                    cursor = last + 1;
            }
            merged_first = std::min(merged_first, first);
            merged_last = std::max(merged_last, last);
            it = covered.erase(it);
        }
        if (!rest_taken) pieces.push_back({cursor, c.last, c.asn});
        covered.emplace_hint(it, merged_first, merged_last);
    }
    std::sort(pieces.begin(), pieces.end(),
              [](const Piece<Key>& a, const Piece<Key>& b) { return a.first < b.first; });
    std::vector<Piece<Key>> merged;
    for (const auto& p : pieces) {
        if (!merged.empty() && merged.back().asn == p.asn && merged.back().last + 1 == p.first)
            merged.back().last = p.last;
        else
            merged.push_back(p);
    }
    return merged;
}

// ---- writing ----

// A temporary file beside the output, removed unless it was renamed into
// place.
class TempFile {
  public:
    explicit TempFile(const std::filesystem::path& out) {
        std::filesystem::path dir = out.parent_path().empty() ? "." : out.parent_path();
        std::string pattern = (dir / ("." + out.filename().string() + ".tmp.XXXXXX")).string();
        fd_ = Fd(::mkostemp(pattern.data(), O_CLOEXEC));
        if (fd_.get() < 0)
            bad(out.string() + ": cannot create a temporary file in " + dir.string() + ": " +
                system_error_text(errno));
        path_ = pattern;
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile() {
        if (!path_.empty()) ::unlink(path_.c_str());
    }
    int fd() const { return fd_.get(); }

    // Syncs the file and renames it to `out`; then syncs the directory, so
    // the new name survives a crash.
    void commit(const std::filesystem::path& out) {
        // fsync reports the write errors a later close could (NFS included).
        if (::fsync(fd_.get()) != 0)
            bad(out.string() + ": cannot sync: " + system_error_text(errno));
        fd_.reset();
        if (::rename(path_.c_str(), out.c_str()) != 0)
            bad(out.string() +
                ": cannot rename the new table into place: " + system_error_text(errno));
        path_.clear();
        std::filesystem::path dir = out.parent_path().empty() ? "." : out.parent_path();
        Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (dir_fd.get() >= 0) ::fsync(dir_fd.get());
    }

  private:
    Fd fd_;
    std::filesystem::path path_;
};

std::uint64_t aligned(std::uint64_t at) {
    return (at + fmt::section_alignment - 1) / fmt::section_alignment * fmt::section_alignment;
}

template <class Key, class KeyOfBucket>
void write_index(unsigned char* out, const std::vector<Piece<Key>>& pieces, KeyOfBucket bucket_of) {
    std::size_t i = 0;
    for (std::size_t bucket = 0; bucket + 1 < fmt::index_entries; ++bucket) {
        while (i < pieces.size() && bucket_of(pieces[i].first) < bucket)
            ++i;
        fmt::store(out + bucket * fmt::index_entry_size, static_cast<std::uint32_t>(i));
    }
    fmt::store(out + (fmt::index_entries - 1) * fmt::index_entry_size,
               static_cast<std::uint32_t>(pieces.size()));
}

struct ProviderEntry {
    std::uint32_t asn;
    std::uint32_t name_offset;
    std::uint32_t name_length;
};

struct Serialized {
    std::vector<unsigned char> bytes;
    std::size_t providers = 0;
};

Serialized serialize(const std::vector<Piece<std::uint32_t>>& v4,
                     const std::vector<Piece<u128>>& v6,
                     const std::unordered_map<std::uint32_t, std::string>& names,
                     std::string_view description, std::int64_t built) {
    constexpr std::uint64_t u32_max = std::numeric_limits<std::uint32_t>::max();
    if (v4.size() > u32_max || v6.size() > u32_max) bad("too many ranges for one table");

    // The providers the table uses, by AS number, with their names pooled.
    std::vector<std::uint32_t> numbers;
    for (const auto& p : v4)
        numbers.push_back(p.asn);
    for (const auto& p : v6)
        numbers.push_back(p.asn);
    std::sort(numbers.begin(), numbers.end());
    numbers.erase(std::unique(numbers.begin(), numbers.end()), numbers.end());
    std::string pool;
    std::vector<ProviderEntry> providers;
    std::unordered_map<std::uint32_t, std::uint32_t> provider_index;
    for (auto asn : numbers) {
        auto found = names.find(asn);
        std::string_view name = found == names.end() ? std::string_view() : found->second;
        provider_index.emplace(asn, static_cast<std::uint32_t>(providers.size()));
        providers.push_back({asn, static_cast<std::uint32_t>(pool.size()),
                             static_cast<std::uint32_t>(name.size())});
        pool += name;
        if (pool.size() > u32_max) bad("provider names too long for one table");
    }
    auto description_offset = static_cast<std::uint32_t>(pool.size());
    pool += description;
    if (pool.size() > u32_max) bad("provider names too long for one table");

    std::uint64_t sizes[fmt::section_count] = {
        fmt::index_entries * fmt::index_entry_size,
        v4.size() * fmt::v4_start_size,
        v4.size() * fmt::v4_span_size,
        fmt::index_entries * fmt::index_entry_size,
        v6.size() * fmt::v6_start_size,
        v6.size() * fmt::v6_span_size,
        providers.size() * fmt::provider_size,
        pool.size(),
    };
    std::uint64_t offsets[fmt::section_count] = {};
    std::uint64_t at = fmt::header_size;
    for (std::size_t s = 0; s < fmt::section_count; ++s) {
        offsets[s] = aligned(at);
        at = offsets[s] + sizes[s];
    }
    std::vector<unsigned char> file(aligned(at), 0);
    unsigned char* h = file.data();

    std::memcpy(h, fmt::magic.data(), fmt::magic.size());
    fmt::store(h + fmt::at_version, fmt::version);
    fmt::store(h + fmt::at_header_size, static_cast<std::uint32_t>(fmt::header_size));
    fmt::store(h + fmt::at_file_size, static_cast<std::uint64_t>(file.size()));
    fmt::store(h + fmt::at_built, static_cast<std::uint64_t>(built));
    fmt::store(h + fmt::at_v4_count, static_cast<std::uint32_t>(v4.size()));
    fmt::store(h + fmt::at_v6_count, static_cast<std::uint32_t>(v6.size()));
    fmt::store(h + fmt::at_provider_count, static_cast<std::uint32_t>(providers.size()));
    fmt::store(h + fmt::at_description_offset, description_offset);
    fmt::store(h + fmt::at_description_length, static_cast<std::uint32_t>(description.size()));
    for (std::size_t s = 0; s < fmt::section_count; ++s) {
        fmt::store(h + fmt::at_sections + s * fmt::section_entry_size, offsets[s]);
        fmt::store(h + fmt::at_sections + s * fmt::section_entry_size + 8, sizes[s]);
    }
    auto section = [&](fmt::Section s) { return h + offsets[s]; };

    write_index(section(fmt::v4_index), v4,
                [](std::uint32_t key) { return std::size_t{key >> (32 - fmt::index_bits)}; });
    write_index(section(fmt::v6_index), v6,
                [](u128 key) { return static_cast<std::size_t>(key >> (128 - fmt::index_bits)); });
    for (std::size_t i = 0; i < v4.size(); ++i) {
        fmt::store(section(fmt::v4_starts) + i * fmt::v4_start_size, v4[i].first);
        unsigned char* span = section(fmt::v4_spans) + i * fmt::v4_span_size;
        fmt::store(span, v4[i].last);
        fmt::store(span + 4, provider_index.at(v4[i].asn));
    }
    for (std::size_t i = 0; i < v6.size(); ++i) {
        unsigned char* start = section(fmt::v6_starts) + i * fmt::v6_start_size;
        fmt::store(start, static_cast<std::uint64_t>(v6[i].first >> 64));
        fmt::store(start + 8, static_cast<std::uint64_t>(v6[i].first));
        unsigned char* span = section(fmt::v6_spans) + i * fmt::v6_span_size;
        fmt::store(span, static_cast<std::uint64_t>(v6[i].last >> 64));
        fmt::store(span + 8, static_cast<std::uint64_t>(v6[i].last));
        fmt::store(span + 16, provider_index.at(v6[i].asn));
    }
    for (std::size_t i = 0; i < providers.size(); ++i) {
        unsigned char* p = section(fmt::providers) + i * fmt::provider_size;
        fmt::store(p, providers[i].asn);
        fmt::store(p + 4, providers[i].name_offset);
        fmt::store(p + 8, providers[i].name_length);
    }
    std::memcpy(section(fmt::strings), pool.data(), pool.size());
    return {std::move(file), providers.size()};
}

} // namespace

std::string_view format_name(InputFormat format) {
    switch (format) {
    case InputFormat::location_csv:
        return "ip-location-db csv";
    case InputFormat::location_csv_v4_num:
        return "ip-location-db csv (IPv4 numbers)";
    case InputFormat::location_csv_v6_num:
        return "ip-location-db csv (IPv6 numbers)";
    case InputFormat::iptoasn_tsv:
        return "iptoasn tsv";
    case InputFormat::iptoasn_tsv_v4_num:
        return "iptoasn tsv (u32)";
    }
    return "unknown";
}

bool is_header_line(std::string_view line) {
    line = without_cr(line);
    std::string_view first = line.substr(0, line.find_first_of(",\t"));
    if (first.size() >= 2 && first.front() == '"' && first.back() == '"')
        first = first.substr(1, first.size() - 2);
    return !first.empty() && std::all_of(first.begin(), first.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-' || c == ' ';
    });
}

std::optional<InputFormat> detect_format(std::string_view first_line,
                                         const std::filesystem::path& name) {
    std::string_view line = without_cr(first_line);
    bool tsv = line.find('\t') != std::string_view::npos;
    if (!tsv && line.find(',') == std::string_view::npos) return std::nullopt;
    char separator = tsv ? '\t' : ',';
    std::string_view start = line.substr(0, line.find(separator));
    std::string_view rest = line.substr(start.size() + 1);
    std::string_view end = rest.substr(0, rest.find(separator));
    if (looks_like_address(start))
        return tsv ? InputFormat::iptoasn_tsv : InputFormat::location_csv;
    if (!all_digits(start)) return std::nullopt;
    if (tsv) return InputFormat::iptoasn_tsv_v4_num; // iptoasn has no numeric IPv6 form
    // asn-ipv6-num.csv and asn-ipv4-num.csv say their family; without the
    // name, an end past 2^32-1 can only be IPv6.
    std::string file = lower_file_name(name);
    if (file.find("v6") != std::string::npos) return InputFormat::location_csv_v6_num;
    if (file.find("v4") != std::string::npos) return InputFormat::location_csv_v4_num;
    auto last = parse_decimal(end);
    return last && *last > std::numeric_limits<std::uint32_t>::max()
               ? InputFormat::location_csv_v6_num
               : InputFormat::location_csv_v4_num;
}

std::optional<SourceRange> parse_line(std::string_view line, InputFormat format) {
    line = without_cr(line);
    if (is_blank(line) || line.front() == '#') return std::nullopt;

    bool tsv = format == InputFormat::iptoasn_tsv || format == InputFormat::iptoasn_tsv_v4_num;
    std::vector<std::string> fields = tsv ? split_tsv(line) : split_csv(line);
    std::size_t wanted = tsv ? 5 : 4;
    if (fields.size() != wanted)
        bad(std::to_string(fields.size()) + " fields, " + std::string(format_name(format)) +
            " has " + std::to_string(wanted) +
            (tsv ? " (start, end, AS number, country, description)"
                 : " (start, end, AS number, organisation; quote a name with a comma)"));

    SourceRange range;
    switch (format) {
    case InputFormat::location_csv:
    case InputFormat::iptoasn_tsv:
        range.first = parse_text_address(fields[0], "start");
        range.last = parse_text_address(fields[1], "end");
        break;
    case InputFormat::location_csv_v4_num:
    case InputFormat::iptoasn_tsv_v4_num:
        range.first = parse_numeric_address(fields[0], Address::Family::v4, "start");
        range.last = parse_numeric_address(fields[1], Address::Family::v4, "end");
        break;
    case InputFormat::location_csv_v6_num:
        range.first = parse_numeric_address(fields[0], Address::Family::v6, "start");
        range.last = parse_numeric_address(fields[1], Address::Family::v6, "end");
        break;
    }
    if (range.first.family != range.last.family)
        bad("start " + range.first.to_string() + " and end " + range.last.to_string() +
            " are not of one address family");
    if (value_of(range.first) > value_of(range.last))
        bad("start " + range.first.to_string() + " is after end " + range.last.to_string());
    range.asn = parse_asn(fields[2]);
    range.name = std::move(fields[tsv ? 4 : 3]);
    if (range.name.size() > max_name_length)
        bad("provider name longer than " + std::to_string(max_name_length) + " bytes");
    return range;
}

BuildStats build_table(const std::vector<std::filesystem::path>& inputs,
                       const std::filesystem::path& out, std::int64_t built_time) {
    if (inputs.empty()) bad("no input tables given");
    BuildStats stats;
    std::vector<Claim<std::uint32_t>> claims_v4;
    std::vector<Claim<u128>> claims_v6;
    std::unordered_map<std::uint32_t, std::string> names; // first non-empty name per AS
    std::uint64_t order = 0;
    std::string description;

    for (const auto& path : inputs) {
        InputStats input;
        input.path = path;
        LineReader reader(path);
        std::optional<InputFormat> format;
        std::string_view line;
        auto where = [&] { return path.string() + ":" + std::to_string(reader.line_number()); };
        while (reader.next(line)) {
            ++input.lines;
            if (!format) {
                std::string_view text = without_cr(line);
                if (is_blank(text) || text.front() == '#') continue;
                if (input.lines == 1 && is_header_line(text)) continue;
                format = detect_format(text, path);
                if (!format)
                    bad(where() + ": not a line of an ASN table this program reads (ip-location-db "
                                  "asn-ipv4.csv and -num.csv, iptoasn ip2asn-v4.tsv and -u32.tsv)");
                input.format = *format;
            }
            std::optional<SourceRange> range;
            try {
                range = parse_line(line, *format);
            } catch (const BuildError& e) {
                bad(where() + ": " + e.what());
            }
            if (!range) continue;
            if (range->asn == 0) {
                ++input.not_routed;
                continue;
            }
            ++input.ranges;
            if (range->first.family == Address::Family::v4)
                claims_v4.push_back({static_cast<std::uint32_t>(value_of(range->first)),
                                     static_cast<std::uint32_t>(value_of(range->last)), range->asn,
                                     order++});
            else
                claims_v6.push_back(
                    {value_of(range->first), value_of(range->last), range->asn, order++});
            auto [named, inserted] = names.try_emplace(range->asn, std::move(range->name));
            if (!inserted && named->second.empty() && !range->name.empty())
                named->second = std::move(range->name);
        }
        if (!format) bad(path.string() + ": holds no ranges (an empty or failed download?)");
        description += (description.empty() ? "" : ", ") + path.filename().string();
        stats.inputs.push_back(std::move(input));
    }
    auto v4 = resolve(std::move(claims_v4));
    auto v6 = resolve(std::move(claims_v6));
    if (v4.empty() && v6.empty()) bad("the inputs hold no range of a routed AS");

    Serialized table = serialize(v4, v6, names, description, built_time);
    TempFile temp(out);
    if (::fchmod(temp.fd(), 0644) != 0 || // the hooks run as other users than the builder
        !write_all(temp.fd(), reinterpret_cast<const char*>(table.bytes.data()),
                   table.bytes.size()))
        bad(out.string() + ": cannot write: " + system_error_text(errno));
    temp.commit(out);

    stats.ranges_v4 = v4.size();
    stats.ranges_v6 = v6.size();
    stats.providers = table.providers;
    stats.bytes = table.bytes.size();
    return stats;
}

} // namespace authguard::asn
