// asn/table.cpp - opens an IP-to-AS table and answers which provider an
// address belongs to: authguard's own table (format.hpp), searched where it
// lies in the file, or a MaxMind DB through libmaxminddb.
//
// Every hook process opens the table, so opening does no more than check
// the header (own table) or map the file and find its metadata (MaxMind
// DB). The file must be replaced by renaming a new one over it (as
// `authguardctl asn-db build` does), never rewritten in place: a mapping of
// a file truncated under it faults (SIGBUS).
#include "authguard/asn/table.hpp"

#include "authguard/fd.hpp"
#include "format.hpp"

#include <maxminddb.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <mutex>
#include <system_error>
#include <unordered_map>
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

std::string system_error_text(int error) {
    return std::generic_category().message(error);
}

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& why) {
    throw TableError(path.string() + ": " + why);
}

// A read-only mapping of a whole file, unmapped when it goes out of scope.
class Mapping {
  public:
    Mapping(const Fd& fd, std::size_t size) : size_(size) {
        void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
        data_ = p == MAP_FAILED ? nullptr : static_cast<const unsigned char*>(p);
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() {
        if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
    }
    // nullptr when the file could not be mapped.
    const unsigned char* data() const { return data_; }

  private:
    const unsigned char* data_;
    std::size_t size_;
};

// The two ways the table's bytes are read. Both refuse a read that is not
// wholly inside the file, so no offset or count from the file can lead
// outside it.
//
// Through the mapping: a lookup costs ~0.2 us. But setting a mapping up
// and tearing it down costs far more than a few lookups: its first page
// faults and the munmap take ~100-200 us on a VM (bench/asn-lookup.cpp),
// more than a hook's whole lookup by pread.
struct MappedBytes {
    static constexpr std::size_t block_bytes = 0; // binary search all the way down
    const unsigned char* base;
    std::uint64_t size;
    bool read(std::uint64_t offset, unsigned char* out, std::size_t n) const {
        if (offset > size || n > size - offset) return false;
        std::memcpy(out, base + offset, n);
        return true;
    }
};

// Through pread: ~6 system calls a lookup, nothing to set up. A search
// narrows the range by single reads until the rest fits in one block.
struct FileBytes {
    static constexpr std::size_t block_bytes = 4096;
    int fd;
    std::uint64_t size;
    bool read(std::uint64_t offset, unsigned char* out, std::size_t n) const {
        if (offset > size || n > size - offset) return false;
        while (n > 0) {
            ssize_t got = ::pread(fd, out, n, static_cast<off_t>(offset));
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) return false;
            out += got;
            offset += static_cast<std::uint64_t>(got);
            n -= static_cast<std::size_t>(got);
        }
        return true;
    }
};

// Where one address family's sections are (byte offsets in the file).
struct FamilySections {
    std::uint64_t index = 0;
    std::uint64_t starts = 0;
    std::uint64_t spans = 0;
    std::size_t count = 0;
};

// How each family's ranges are laid out (format.hpp).
struct V4Layout {
    using Key = std::uint32_t;
    static constexpr std::size_t start_size = fmt::v4_start_size;
    static constexpr std::size_t span_size = fmt::v4_span_size;
    static Key key(const unsigned char* p) { return fmt::load<std::uint32_t>(p); }
    static std::uint32_t provider(const unsigned char* span) {
        return fmt::load<std::uint32_t>(span + 4);
    }
    static std::size_t bucket(Key key) { return key >> (32 - fmt::index_bits); }
};

struct V6Layout {
    using Key = u128;
    static constexpr std::size_t start_size = fmt::v6_start_size;
    static constexpr std::size_t span_size = fmt::v6_span_size;
    static Key key(const unsigned char* p) {
        return (u128{fmt::load<std::uint64_t>(p)} << 64) | fmt::load<std::uint64_t>(p + 8);
    }
    static std::uint32_t provider(const unsigned char* span) {
        return fmt::load<std::uint32_t>(span + 16);
    }
    static std::size_t bucket(Key key) {
        return static_cast<std::size_t>(key >> (128 - fmt::index_bits));
    }
};

// The provider index of the range holding `key`, or nullopt: no range
// holds it, or what the file says is out of bounds.
template <class Layout, class Bytes>
std::optional<std::uint32_t> find_range(const Bytes& bytes, const FamilySections& f,
                                        typename Layout::Key key) {
    using Key = typename Layout::Key;
    unsigned char buf[8];
    if (!bytes.read(f.index + Layout::bucket(key) * fmt::index_entry_size, buf, 8))
        return std::nullopt;
    std::size_t low = fmt::load<std::uint32_t>(buf);
    std::size_t high = fmt::load<std::uint32_t>(buf + 4);
    if (low > high || high > f.count) return std::nullopt;
    auto start_at = [&](std::size_t i) -> std::optional<Key> {
        unsigned char start[Layout::start_size];
        if (!bytes.read(f.starts + i * Layout::start_size, start, sizeof start))
            return std::nullopt;
        return Layout::key(start);
    };

    // Find the first range of the bucket that starts above the key; the
    // one before it (perhaps the last of an earlier bucket, which may reach
    // into this one) is the only one that can hold the key.
    constexpr std::size_t block = Bytes::block_bytes / Layout::start_size;
    while (high - low > block) {
        std::size_t mid = low + (high - low) / 2;
        auto start = start_at(mid);
        if (!start) return std::nullopt;
        if (*start <= key)
            low = mid + 1;
        else
            high = mid;
    }
    std::optional<Key> candidate_start; // known when the candidate is in the block read
    if constexpr (block > 0) {
        if (low < high) {
            unsigned char starts[Bytes::block_bytes];
            if (!bytes.read(f.starts + low * Layout::start_size, starts,
                            (high - low) * Layout::start_size))
                return std::nullopt;
            std::size_t i = 0;
            for (; i < high - low; ++i) {
                Key start = Layout::key(starts + i * Layout::start_size);
                if (start > key) break;
                candidate_start = start;
            }
            low += i;
        }
    }
    if (low == 0) return std::nullopt;
    std::size_t i = low - 1;
    if (!candidate_start) candidate_start = start_at(i);
    unsigned char span[Layout::span_size];
    if (!candidate_start || *candidate_start > key ||
        !bytes.read(f.spans + i * Layout::span_size, span, sizeof span))
        return std::nullopt;
    if (Layout::key(span) < key) return std::nullopt; // past the range's last address
    return Layout::provider(span);
}

// authguard's own table (format.hpp). Opening reads and checks the header
// by pread; lookups read what they need by pread until the table has
// answered map_after lookups, and through a mapping of the file from then
// on: a hook's one or two lookups never pay for a mapping, a log scan's
// millions do not pay a system call each.
class OwnTable final : public Table::Impl {
  public:
    static constexpr std::uint32_t map_after = 32;

    // `h`: the file's first header_size bytes (it starts with the magic).
    OwnTable(Fd fd, std::uint64_t size, const unsigned char* h, const std::filesystem::path& path)
        : fd_(std::move(fd)), size_(size) {
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
        description_offset_ = u32(fmt::at_description_offset);
        description_length_ = u32(fmt::at_description_length);

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
        std::uint64_t offset[fmt::section_count] = {};
        for (std::size_t s = 0; s < fmt::section_count; ++s) {
            offset[s] = u64(fmt::at_sections + s * fmt::section_entry_size);
            std::uint64_t length = u64(fmt::at_sections + s * fmt::section_entry_size + 8);
            bool fits = offset[s] >= fmt::header_size && offset[s] % fmt::section_alignment == 0 &&
                        offset[s] <= size && length <= size - offset[s] &&
                        (s == fmt::strings || length == expected[s]);
            if (!fits) fail(path, "corrupt: section " + std::to_string(s) + " out of bounds");
            if (s == fmt::strings) strings_size_ = length;
        }
        v4_.index = offset[fmt::v4_index];
        v4_.starts = offset[fmt::v4_starts];
        v4_.spans = offset[fmt::v4_spans];
        v6_.index = offset[fmt::v6_index];
        v6_.starts = offset[fmt::v6_starts];
        v6_.spans = offset[fmt::v6_spans];
        providers_ = offset[fmt::providers];
        strings_ = offset[fmt::strings];
    }

    std::optional<Provider> lookup(const Address& address) const override {
        const unsigned char* base = mapped_.load(std::memory_order_acquire);
        if (!base && lookups_.fetch_add(1, std::memory_order_relaxed) >= map_after) {
            std::call_once(map_once_, [this] {
                // (Without a mapping, pread goes on answering.)
                if (size_ > std::numeric_limits<std::size_t>::max()) return;
                mapping_ = std::make_unique<Mapping>(fd_, static_cast<std::size_t>(size_));
                mapped_.store(mapping_->data(), std::memory_order_release);
            });
            base = mapped_.load(std::memory_order_acquire);
        }
        if (base) return lookup_in(MappedBytes{base, size_}, address);
        return lookup_in(FileBytes{fd_.get(), size_}, address);
    }

    TableInfo info() const override {
        TableInfo out;
        out.format = "authguard";
        out.built = built_;
        out.ranges_v4 = v4_.count;
        out.ranges_v6 = v6_.count;
        out.providers = provider_count_;
        // Bounded: the length is the file's word.
        constexpr std::uint32_t longest = 64 * 1024;
        std::uint32_t length = std::min(description_length_, longest);
        if (std::uint64_t{description_offset_} + description_length_ <= strings_size_) {
            std::string text(length, '\0');
            if (FileBytes{fd_.get(), size_}.read(strings_ + description_offset_,
                                                 reinterpret_cast<unsigned char*>(text.data()),
                                                 length))
                out.description = std::move(text);
        }
        return out;
    }

  private:
    template <class Bytes>
    std::optional<Provider> lookup_in(const Bytes& bytes, const Address& address) const {
        const auto& b = address.bytes;
        std::optional<std::uint32_t> index;
        if (address.family == Address::Family::v4) {
            std::uint32_t key = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                                (std::uint32_t{b[2]} << 8) | b[3];
            index = find_range<V4Layout>(bytes, v4_, key);
        } else {
            u128 key = 0;
            for (auto byte : b)
                key = (key << 8) | byte;
            index = find_range<V6Layout>(bytes, v6_, key);
        }
        if (!index || *index >= provider_count_) return std::nullopt;
        unsigned char p[fmt::provider_size];
        if (!bytes.read(providers_ + std::uint64_t{*index} * fmt::provider_size, p, sizeof p))
            return std::nullopt;
        std::uint32_t number = fmt::load<std::uint32_t>(p);
        std::uint32_t name_offset = fmt::load<std::uint32_t>(p + 4);
        std::uint32_t name_length = fmt::load<std::uint32_t>(p + 8);
        if (number == 0 || std::uint64_t{name_offset} + name_length > strings_size_)
            return std::nullopt;
        auto name = name_at(bytes, *index, strings_ + name_offset, name_length);
        if (!name) return std::nullopt;
        return Provider{number, *name};
    }

    // A provider's name, valid while the table lives: a view into the
    // mapping, or a copy read by pread and kept (at most map_after of them).
    std::optional<std::string_view> name_at(const MappedBytes& bytes, std::uint32_t,
                                            std::uint64_t offset, std::uint32_t length) const {
        if (offset > bytes.size || length > bytes.size - offset) return std::nullopt;
        return std::string_view(reinterpret_cast<const char*>(bytes.base) + offset, length);
    }
    std::optional<std::string_view> name_at(const FileBytes& bytes, std::uint32_t index,
                                            std::uint64_t offset, std::uint32_t length) const {
        std::lock_guard lock(names_mutex_);
        auto found = names_.find(index);
        if (found != names_.end()) return std::string_view(found->second);
        std::string name(length, '\0');
        if (!bytes.read(offset, reinterpret_cast<unsigned char*>(name.data()), length))
            return std::nullopt;
        // (unordered_map never moves its elements: the view stays valid.)
        return std::string_view(names_.emplace(index, std::move(name)).first->second);
    }

    Fd fd_; // kept open for pread and the mapping (close-on-exec)
    std::uint64_t size_ = 0;
    std::int64_t built_ = 0;
    FamilySections v4_, v6_;
    std::uint32_t provider_count_ = 0;
    std::uint64_t providers_ = 0;
    std::uint64_t strings_ = 0;
    std::uint64_t strings_size_ = 0;
    std::uint32_t description_offset_ = 0;
    std::uint32_t description_length_ = 0;

    mutable std::atomic<std::uint32_t> lookups_{0};
    mutable std::once_flag map_once_;
    mutable std::unique_ptr<Mapping> mapping_;
    mutable std::atomic<const unsigned char*> mapped_{nullptr};
    mutable std::mutex names_mutex_;
    mutable std::unordered_map<std::uint32_t, std::string> names_;
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
        case MMDB_DATA_TYPE_UINT16:
            asn = number.uint16;
            break;
        case MMDB_DATA_TYPE_UINT32:
            asn = number.uint32;
            break;
        case MMDB_DATA_TYPE_UINT64:
            asn = number.uint64;
            break;
        case MMDB_DATA_TYPE_INT32:
            asn = number.int32 < 0 ? 0 : std::uint64_t(number.int32);
            break;
        default:
            return std::nullopt;
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
    // O_NONBLOCK: a FIFO in asn-db's place must not hold the hook in open();
    // it is refused below as not a regular file.
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (fd.get() < 0) fail(path, "cannot open: " + system_error_text(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) fail(path, "cannot stat: " + system_error_text(errno));
    if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
    auto size = static_cast<std::uint64_t>(st.st_size);

    // The magic and, for an own table, the whole header in one read.
    unsigned char head[fmt::header_size];
    std::size_t wanted = static_cast<std::size_t>(std::min<std::uint64_t>(size, sizeof head));
    if (!FileBytes{fd.get(), size}.read(0, head, wanted))
        fail(path, "cannot read: " + system_error_text(errno));
    if (wanted >= fmt::magic.size() &&
        std::memcmp(head, fmt::magic.data(), fmt::magic.size()) == 0) {
        if (wanted < fmt::header_size) fail(path, "truncated authguard ASN table");
        return Table(std::make_unique<OwnTable>(std::move(fd), size, head, path));
    }
    fd.reset(); // libmaxminddb opens the path itself
    return Table(std::make_unique<MmdbTable>(path));
}

// (A moved-from Table answers nothing rather than crash.)
std::optional<Provider> Table::lookup(const Address& address) const {
    return impl_ ? impl_->lookup(address) : std::nullopt;
}

TableInfo Table::info() const {
    return impl_ ? impl_->info() : TableInfo{};
}

std::string key_of(const Provider& provider) { return "AS" + std::to_string(provider.number); }

std::string describe(const Provider& provider) {
    std::string out = key_of(provider);
    if (!provider.name.empty()) {
        out += ' ';
        out += provider.name;
    }
    return out;
}

} // namespace authguard::asn
