// spf/dns.hpp - where an SPF check's DNS answers come from, chosen by the
// caller: the real resolver for production, a zone of records added in
// code for tests (the RFC 7208 suite, the unit tests), or any function (a
// DNS server that never answers, fuzzed answers).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace authguard::spf {

enum class RrType { a, aaaa, mx, txt, ptr, cname };

// One DNS answer as the check needs it.
struct Answer {
    enum class Status { found, nxdomain, nodata, tempfail };
    Status status = Status::nxdomain;
    // Text forms: A "192.0.2.1", AAAA "2001:db8::1", MX the exchange name,
    // PTR the name, TXT the record's strings joined, CNAME the target.
    std::vector<std::string> records;
};

using Lookup = std::function<Answer(std::string_view name, RrType type)>;

// Records added in code. Names are case-insensitive; a CNAME is followed
// once; a name marked with add_timeout() answers tempfail for every type
// that has no record added before the mark (the RFC 7208 suite's TIMEOUT).
class Zone {
  public:
    void add(std::string_view name, RrType type, std::string data);
    void add_timeout(std::string_view name);
    Answer lookup(std::string_view name, RrType type) const;

  private:
    struct Entry {
        RrType type;
        std::string data;
        bool timeout = false;
    };
    Answer lookup(std::string_view name, RrType type, int depth) const;
    std::map<std::string, std::vector<Entry>, std::less<>> names_;
};

class Dns {
  public:
    // libspf2's SPF_dns_resolv: the system resolver (/etc/resolv.conf).
    static Dns resolver();
    static Dns zone(Zone zone);
    static Dns function(Lookup lookup);

    bool is_resolver() const { return !lookup_; }
    // Empty for the resolver.
    const Lookup& lookup() const { return lookup_; }

  private:
    explicit Dns(Lookup lookup) : lookup_(std::move(lookup)) {}
    Lookup lookup_;
};

} // namespace authguard::spf
