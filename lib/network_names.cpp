// network_names.cpp - wide networks named for people (see network_names.hpp).
#include "authguard/network_names.hpp"

#include "authguard/address.hpp"
#include "authguard/asn/table.hpp"
#include "authguard/detector.hpp"

#include <charconv>

namespace authguard {

std::optional<ProviderOf> provider_of(std::string_view address_text, const Config& config) {
    if (!config.asn_table) return std::nullopt;
    auto address = parse_address(address_text);
    if (!address) return std::nullopt;
    auto provider = config.asn_table->lookup(*address);
    if (!provider) return std::nullopt;
    // The same key network_keys() gives, so that a view names exactly what
    // the detector counted.
    return ProviderOf{asn::key_of(*provider), std::string(provider->name)};
}

std::string_view label_name(std::string_view key, std::string_view label) {
    if (label.size() <= key.size() + 1 || label.substr(0, key.size()) != key) return {};
    return label.substr(key.size() + 1);
}

std::string address_network_label(std::string_view address_text, const Config& config) {
    NetworkKeys keys = network_keys(address_text, config);
    if (keys.wide == keys.prefix) return keys.prefix; // no provider: as without asn-db
    return describe_network(keys.wide, address_text, config) + " (" + keys.prefix + ")";
}

std::optional<std::vector<EvidenceNetwork>> parse_evidence(std::string_view text) {
    std::vector<EvidenceNetwork> out;
    while (!text.empty()) {
        auto space = text.find(' ');
        std::string_view item = text.substr(0, space);
        text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
        auto at = item.find('@');
        auto bracket = item.find('[', at == std::string_view::npos ? 0 : at);
        if (at == std::string_view::npos || bracket == std::string_view::npos || item.back() != ']')
            return std::nullopt;
        EvidenceNetwork n;
        n.network = std::string(item.substr(0, at));
        auto digits = item.substr(at + 1, bracket - at - 1);
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n.first);
        if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty())
            return std::nullopt;
        auto list = item.substr(bracket + 1, item.size() - bracket - 2);
        while (!list.empty()) {
            auto comma = list.find(',');
            n.addresses.emplace_back(list.substr(0, comma));
            list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        }
        out.push_back(std::move(n));
    }
    if (out.empty()) return std::nullopt;
    return out;
}

std::string evidence_network_label(const EvidenceNetwork& network, const Config& config) {
    // The first address the table still places in the provider names it: a
    // table rebuilt since the lock may have moved some of them.
    for (auto& address : network.addresses) {
        std::string label = describe_network(network.network, address, config);
        if (label != network.network) return label;
    }
    return network.network;
}

} // namespace authguard
