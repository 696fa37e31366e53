// asn/table.cpp - opens an IP-to-AS table and answers which provider an
// address belongs to: authguard's own table (format.hpp), searched in place
// through a read-only mapping, or a MaxMind DB through libmaxminddb.
//
// Both are opened by every hook process, so opening does no more than map
// the file and check its header. The file must be replaced by renaming a new
// one over it (as `authguardctl asn-db build` does), never rewritten in
// place: a mapping of a file truncated under it faults (SIGBUS).
#include "authguard/asn/table.hpp"

#include "authguard/fd.hpp"
#include "format.hpp"

#include <maxminddb.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <system_error>
#include <utility>

namespace authguard::asn {

// A lookup behind Table's interface; one subclass per on-disk form.
class Table::Impl {
  public:
    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    virtual ~Impl() = default;
    virtual std::optional<Provider> lookup(const Address& address) const = 0;
    virtual TableInfo info() const = 0;
};

namespace {

namespace fmt = format;
__extension__ using u128 = unsigned __int128;

std::string system_error_text(int error) { return std::generic_category().message(error); }

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& why) {
    throw TableError(path.string() + ": " + why);
}

// A read-only mapping of a whole file, unmapped when it goes out of scope.
class Mapping {
  public:
    Mapping(const Fd& fd, std::size_t size, const std::filesystem::path& path) : size_(size) {
        void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
        if (p == MAP_FAILED) fail(path, "cannot map: " + system_error_text(errno));
        data_ = static_cast<const unsigned char*>(p);
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() { ::munmap(const_cast<unsigned char*>(data_), size_); }
    const unsigned char* data() const { return data_; }
    std::size_t size() const { return size_; }

  private:
    const unsigned char* data_ = nullptr;
    std::size_t size_ = 0;
};

// The sections of one address family in the mapping.
struct FamilyArrays {
    const unsigned char* index = nullptr;
    const unsigned char* starts = nullptr;
    const unsigned char* spans = nullptr;
    std::size_t count = 0;
};

// How each family's keys are laid out (format.hpp).
struct V4Layout {
    using Key = std::uint32_t;
    static Key start(const FamilyArrays& f, std::size_t i) {
        return fmt::load<std::uint32_t>(f.starts + i * fmt::v4_start_size);
    }
    static Key last(const FamilyArrays& f, std::size_t i) {
        return fmt::load<std::uint32_t>(f.spans + i * fmt::v4_span_size);
    }
    static std::uint32_t provider(const FamilyArrays& f, std::size_t i) {
        return fmt::load<std::uint32_t>(f.spans + i * fmt::v4_span_size + 4);
    }
    static std::size_t bucket(Key key) { return key >> (32 - fmt::index_bits); }
};

struct V6Layout {
    using Key = u128;
    static Key pair(const unsigned char* p) {
        return (u128{fmt::load<std::uint64_t>(p)} << 64) | fmt::load<std::uint64_t>(p + 8);
    }
    static Key start(const FamilyArrays& f, std::size_t i) {
        return pair(f.starts + i * fmt::v6_start_size);
    }
    static Key last(const FamilyArrays& f, std::size_t i) {
        return pair(f.spans + i * fmt::v6_span_size);
    }
    static std::uint32_t provider(const FamilyArrays& f, std::size_t i) {
        return fmt::load<std::uint32_t>(f.spans + i * fmt::v6_span_size + 16);
    }
    static std::size_t bucket(Key key) {
        return static_cast<std::size_t>(key >> (128 - fmt::index_bits));
    }
};

// The provider index of the range holding `key`, or nullopt (none, or the
// index read from the file is out of bounds).
template <class Layout>
std::optional<std::uint32_t> find_range(const FamilyArrays& f, typename Layout::Key key) {
    std::size_t bucket = Layout::bucket(key);
    std::size_t low = fmt::load<std::uint32_t>(f.index + bucket * fmt::index_entry_size);
    std::size_t high = fmt::load<std::uint32_t>(f.index + (bucket + 1) * fmt::index_entry_size);
    if (low > high || high > f.count) return std::nullopt;
    // The first range of the bucket that starts above the key; the one
    // before it (perhaps the last of an earlier bucket) is the candidate.
    while (low < high) {
        std::size_t mid = low + (high - low) / 2;
        if (Layout::start(f, mid) <= key)
            low = mid + 1;
        else
            high = mid;
    }
    if (low == 0) return std::nullopt;
    std::size_t i = low - 1;
    if (Layout::start(f, i) > key || Layout::last(f, i) < key) return std::nullopt;
    return Layout::provider(f, i);
}

// authguard's own table (format.hpp), searched in place.
class OwnTable final : public Table::Impl {
  public:
    OwnTable(const Fd& fd, std::size_t size, const std::filesystem::path& path)
        : map_(fd, size, path) {
        const unsigned char* h = map_.data();
        auto u32 = [&](std::size_t at) { return fmt::load<std::uint32_t>(h + at); };
        auto u64 = [&](std::size_t at) { return fmt::load<std::uint64_t>(h + at); };
        if (u32(fmt::at_version) != fmt::version)
            fail(path, "authguard ASN table of version " + std::to_string(u32(fmt::at_version)) +
                           ", this program reads version " + std::to_string(fmt::version) +
                           " (build it again with authguardctl asn-db build)");
        if (u32(fmt::at_header_size) != fmt::header_size) fail(path, "corrupt header size");
        if (u64(fmt::at_file_size) != size)
            fail(path, "truncated or damaged: the header says " +
                           std::to_string(u64(fmt::at_file_size)) + " bytes, the file has " +
                           std::to_string(size));
        built_ = static_cast<std::int64_t>(u64(fmt::at_built));
        v4_.count = u32(fmt::at_v4_count);
        v6_.count = u32(fmt::at_v6_count);
        provider_count_ = u32(fmt::at_provider_count);

        // Each section must lie inside the file, after the header, aligned,
        // and be exactly as long as its count says. The counts are 32-bit
        // and the element sizes small, so the products cannot overflow.
        const std::uint64_t expected[fmt::section_count] = {
            fmt::index_entries * fmt::index_entry_size,
            std::uint64_t{v4_.count} * fmt::v4_start_size,
            std::uint64_t{v4_.count} * fmt::v4_span_size,
            fmt::index_entries * fmt::index_entry_size,
            std::uint64_t{v6_.count} * fmt::v6_start_size,
            std::uint64_t{v6_.count} * fmt::v6_span_size,
            std::uint64_t{provider_count_} * fmt::provider_size,
            0, // strings: any length
        };
        const unsigned char* section[fmt::section_count] = {};
        for (std::size_t s = 0; s < fmt::section_count; ++s) {
            std::uint64_t offset = u64(fmt::at_sections + s * fmt::section_entry_size);
            std::uint64_t length = u64(fmt::at_sections + s * fmt::section_entry_size + 8);
            bool fits = offset >= fmt::header_size && offset % fmt::section_alignment == 0 &&
                        offset <= size && length <= size - offset &&
                        (s == fmt::strings || length == expected[s]);
            if (!fits) fail(path, "corrupt: section " + std::to_string(s) + " out of bounds");
            section[s] = h + offset;
            if (s == fmt::strings) strings_size_ = length;
        }
        v4_.index = section[fmt::v4_index];
        v4_.starts = section[fmt::v4_starts];
        v4_.spans = section[fmt::v4_spans];
        v6_.index = section[fmt::v6_index];
        v6_.starts = section[fmt::v6_starts];
        v6_.spans = section[fmt::v6_spans];
        providers_ = section[fmt::providers];
        strings_ = section[fmt::strings];
        description_ = text_at(u32(fmt::at_description_offset), u32(fmt::at_description_length))
                           .value_or(std::string_view());
    }

    std::optional<Provider> lookup(const Address& address) const override {
        const auto& b = address.bytes;
        std::optional<std::uint32_t> provider;
        if (address.family == Address::Family::v4) {
            std::uint32_t key = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                                (std::uint32_t{b[2]} << 8) | b[3];
            provider = find_range<V4Layout>(v4_, key);
        } else {
            u128 key = 0;
            for (auto byte : b)
                key = (key << 8) | byte;
            provider = find_range<V6Layout>(v6_, key);
        }
        if (!provider || *provider >= provider_count_) return std::nullopt;
        const unsigned char* p = providers_ + std::size_t{*provider} * fmt::provider_size;
        std::uint32_t number = fmt::load<std::uint32_t>(p);
        auto name = text_at(fmt::load<std::uint32_t>(p + 4), fmt::load<std::uint32_t>(p + 8));
        if (number == 0 || !name) return std::nullopt;
        return Provider{number, *name};
    }

    TableInfo info() const override {
        TableInfo out;
        out.format = "authguard";
        out.built = built_;
        out.ranges_v4 = v4_.count;
        out.ranges_v6 = v6_.count;
        out.providers = provider_count_;
        out.description = std::string(description_);
        return out;
    }

  private:
    // Bytes of the string pool, or nullopt when they are not all in it.
    std::optional<std::string_view> text_at(std::uint32_t offset, std::uint32_t length) const {
        if (std::uint64_t{offset} + length > strings_size_) return std::nullopt;
        return std::string_view(reinterpret_cast<const char*>(strings_) + offset, length);
    }

    Mapping map_;
    std::int64_t built_ = 0;
    FamilyArrays v4_, v6_;
    std::uint32_t provider_count_ = 0;
    const unsigned char* providers_ = nullptr;
    const unsigned char* strings_ = nullptr;
    std::uint64_t strings_size_ = 0;
    std::string_view description_;
};

// A MaxMind DB (GeoLite2-ASN, DB-IP ASN Lite) read through libmaxminddb,
// which maps the file and bounds-checks what it decodes.
class MmdbTable final : public Table::Impl {
  public:
    explicit MmdbTable(const std::filesystem::path& path) {
        int status = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &db_);
        if (status == MMDB_INVALID_METADATA_ERROR || status == MMDB_UNKNOWN_DATABASE_FORMAT_ERROR)
            fail(path, "neither an authguard ASN table nor a MaxMind DB");
        if (status == MMDB_IO_ERROR) fail(path, "cannot read: " + system_error_text(errno));
        // (On an error MMDB_open has released what it took itself.)
        if (status != MMDB_SUCCESS) fail(path, MMDB_strerror(status));
    }
    ~MmdbTable() override { MMDB_close(&db_); }

    std::optional<Provider> lookup(const Address& address) const override {
        // An AF_INET address in an IPv6 tree is looked up under ::/96,
        // where GeoLite2 and DB-IP keep IPv4; libmaxminddb does that.
        sockaddr_in v4{};
        sockaddr_in6 v6{};
        const sockaddr* socket_address;
        if (address.family == Address::Family::v4) {
            v4.sin_family = AF_INET;
            std::memcpy(&v4.sin_addr, address.bytes.data(), 4);
            socket_address = reinterpret_cast<const sockaddr*>(&v4);
        } else {
            v6.sin6_family = AF_INET6;
            std::memcpy(&v6.sin6_addr, address.bytes.data(), 16);
            socket_address = reinterpret_cast<const sockaddr*>(&v6);
        }
        int error = MMDB_SUCCESS;
        MMDB_lookup_result_s result = MMDB_lookup_sockaddr(&db_, socket_address, &error);
        if (error != MMDB_SUCCESS || !result.found_entry) return std::nullopt;

        MMDB_entry_data_s number{};
        if (MMDB_get_value(&result.entry, &number, "autonomous_system_number",
                           static_cast<const char*>(nullptr)) != MMDB_SUCCESS ||
            !number.has_data)
            return std::nullopt;
        std::uint64_t asn = 0;
        switch (number.type) {
        case MMDB_DATA_TYPE_UINT16: asn = number.uint16; break;
        case MMDB_DATA_TYPE_UINT32: asn = number.uint32; break;
        case MMDB_DATA_TYPE_UINT64: asn = number.uint64; break;
        case MMDB_DATA_TYPE_INT32: asn = number.int32 < 0 ? 0 : std::uint64_t(number.int32); break;
        default: return std::nullopt;
        }
        if (asn == 0 || asn > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;

        Provider provider{static_cast<std::uint32_t>(asn), {}};
        MMDB_entry_data_s name{};
        if (MMDB_get_value(&result.entry, &name, "autonomous_system_organization",
                           static_cast<const char*>(nullptr)) == MMDB_SUCCESS &&
            name.has_data && name.type == MMDB_DATA_TYPE_UTF8_STRING)
            provider.name = std::string_view(name.utf8_string, name.data_size); // not terminated
        return provider;
    }

    TableInfo info() const override {
        TableInfo out;
        out.format = "mmdb";
        out.built = static_cast<std::int64_t>(db_.metadata.build_epoch);
        if (db_.metadata.database_type) out.description = db_.metadata.database_type;
        return out;
    }

  private:
    MMDB_s db_{};
};

} // namespace

Table::Table(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Table::Table(Table&&) noexcept = default;
Table& Table::operator=(Table&&) noexcept = default;
Table::~Table() = default;

Table Table::open(const std::filesystem::path& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) fail(path, "cannot open: " + system_error_text(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) fail(path, "cannot stat: " + system_error_text(errno));
    if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
    auto size = static_cast<std::uint64_t>(st.st_size);

    std::array<char, fmt::magic.size()> head{};
    ssize_t got = size >= head.size() ? ::pread(fd.get(), head.data(), head.size(), 0) : 0;
    if (got < 0) fail(path, "cannot read: " + system_error_text(errno));
    if (static_cast<std::size_t>(got) == head.size() && head == fmt::magic) {
        if (size < fmt::header_size) fail(path, "truncated authguard ASN table");
        if (size > std::numeric_limits<std::size_t>::max()) fail(path, "too large to map");
        return Table(std::make_unique<OwnTable>(fd, static_cast<std::size_t>(size), path));
    }
    fd.reset(); // libmaxminddb opens the path itself
    return Table(std::make_unique<MmdbTable>(path));
}

// (A moved-from Table answers nothing rather than crash.)
std::optional<Provider> Table::lookup(const Address& address) const {
    return impl_ ? impl_->lookup(address) : std::nullopt;
}

TableInfo Table::info() const { return impl_ ? impl_->info() : TableInfo{}; }

std::string describe(const Provider& provider) {
    std::string out = "AS" + std::to_string(provider.number);
    if (!provider.name.empty()) {
        out += ' ';
        out += provider.name;
    }
    return out;
}

} // namespace authguard::asn
