// spf/dns.cpp - the DNS sources a check can use. The zone is authguard's
// own map rather than libspf2's SPF_dns_zone: tests need what SPF_dns_zone
// cannot give (a name that times out for some types only, a CNAME followed
// as a recursive resolver does), and every source then goes through the
// same counting layer (layer.cpp) that enforces RFC 7208's limits.
#include "authguard/spf/dns.hpp"

#include <algorithm>
#include <cctype>

namespace authguard::spf {

namespace {
std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!out.empty() && out.back() == '.') out.pop_back();
    return out;
}
} // namespace

void Zone::add(std::string_view name, RrType type, std::string data) {
    names_[lower(name)].push_back({type, std::move(data), false});
}

void Zone::add_timeout(std::string_view name) {
    names_[lower(name)].push_back({RrType::a, {}, true});
}

Answer Zone::lookup(std::string_view name, RrType type) const {
    return lookup(name, type, 0);
}

Answer Zone::lookup(std::string_view name, RrType type, int depth) const {
    auto it = names_.find(lower(name));
    if (it == names_.end()) return {Answer::Status::nxdomain, {}};
    Answer answer{Answer::Status::nodata, {}};
    for (const Entry& e : it->second) {
        if (e.timeout) {
            if (answer.records.empty()) return {Answer::Status::tempfail, {}};
            break;
        }
        if (e.type == type) {
            answer.records.push_back(e.data);
        } else if (e.type == RrType::cname && depth < 8) {
            return lookup(e.data, type, depth + 1);
        }
    }
    if (!answer.records.empty()) answer.status = Answer::Status::found;
    return answer;
}

Dns Dns::resolver() {
    return Dns(Lookup());
}

Dns Dns::zone(Zone zone) {
    return Dns([zone = std::move(zone)](std::string_view name, RrType type) {
        return zone.lookup(name, type);
    });
}

Dns Dns::function(Lookup lookup) {
    if (!lookup) return Dns([](std::string_view, RrType) { return Answer{}; });
    return Dns(std::move(lookup));
}

} // namespace authguard::spf
