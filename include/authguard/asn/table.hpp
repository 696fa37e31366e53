// asn/table.hpp - which provider (autonomous system) an address belongs to.
//
// The detector counts providers, not address blocks: a phone hopping through
// its carrier's hundreds of /16s stays within one AS, while a botnet of home
// PCs brings a new AS with almost every login. The table is opened by every
// hook process (one start per login), so opening must cost next to nothing:
// the file is never loaded or parsed at open. A table's first lookups read
// the few bytes they need with pread (a mapping costs more to set up and
// tear down than a hook's lookups); later ones search a mapping of it.
//
// Two on-disk forms are read:
//   - MaxMind DB files (GeoLite2-ASN, DB-IP ASN Lite .mmdb), through
//     libmaxminddb;
//   - authguard's own table, written by `authguardctl asn-db build` from the
//     CSV/TSV tables people download (asn/build.hpp).
// The form is told by the file's contents, not its name.
#pragma once

#include "authguard/address.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace authguard::asn {

struct TableError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Provider {
    std::uint32_t number = 0; // the AS number, never 0 for a found provider
    std::string_view name;    // "SoftBank Corp."; valid while the Table lives; may be empty
};

struct TableInfo {
    std::string format;          // "authguard" or "mmdb"
    std::int64_t built = 0;      // unix time the table was built (0: unknown)
    std::uint64_t ranges_v4 = 0; // address ranges (mmdb: 0, unknown)
    std::uint64_t ranges_v6 = 0;
    std::uint64_t providers = 0; // distinct AS numbers (mmdb: 0, unknown)
    std::string description;     // mmdb: database_type; authguard: the sources it was built from
};

class Table {
  public:
    // Maps the file. Throws TableError naming the path and what is wrong
    // (missing, unreadable, not a table, truncated, corrupt).
    static Table open(const std::filesystem::path& path);

    Table(Table&&) noexcept;
    Table& operator=(Table&&) noexcept;
    ~Table();

    // nullopt where the table has no provider for the address (or says AS 0).
    // Never throws; a corrupt entry found during a lookup reads as nullopt.
    std::optional<Provider> lookup(const Address& address) const;

    TableInfo info() const;

    class Impl;

  private:
    explicit Table(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// "AS17676 SoftBank Corp." (or "AS17676" without a name), for people.
std::string describe(const Provider& provider);

// "AS17676": the provider as the detector keys its wide network.
std::string key_of(const Provider& provider);

} // namespace authguard::asn
