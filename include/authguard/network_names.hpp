// network_names.hpp - wide networks named for people: what authguardctl's
// views, the report and the notifications print where the detector keeps a
// key.
//
// The detector keys a provider "AS17676" (detector.hpp, network_keys). An
// admin wants its name, and, where a line stands for one address, the
// address block too: a provider spans hundreds of /16s, and the block is
// what a firewall rule or a whois query takes. So every view prints
//   - for one address: "AS17676 SoftBank Corp. (126.0.0.0/16)", or its
//     prefix "126.0.0.0/16" alone where the table has no provider for it;
//   - for a wide network standing for several addresses (a lock's evidence,
//     a table of networks): "AS17676 SoftBank Corp.", or the prefix, with
//     the addresses beside it.
// Without asn-db every key is a prefix and prints as before.
//
// Nothing here is escaped: a provider's name comes from a file (any bytes).
// Each output escapes it as it escapes everything else (esc(), the JSON
// writer, HTML).
#pragma once

#include "authguard/config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace authguard {

// The provider the table places an address in: its key as the detector
// counts it ("AS17676") and its name (may be empty). nullopt without a
// table, for an address that is none, or where the table has no provider.
struct ProviderOf {
    std::string key;
    std::string name;
};
std::optional<ProviderOf> provider_of(std::string_view address_text, const Config& config);

// The name in a label describe_network() made of a provider key
// ("SoftBank Corp." in "AS17676 SoftBank Corp."); empty where the label is
// the key alone (a prefix, a provider without a name, no table).
std::string_view label_name(std::string_view key, std::string_view label);

// One address's wide network for people (see above).
std::string address_network_label(std::string_view address_text, const Config& config);

// A lock's evidence as the detector writes it:
// "<wide network>@<first seen>[<address>,...]" separated by spaces.
struct EvidenceNetwork {
    std::string network; // the detector's key: "AS17676", "126.0.0.0/16"
    std::int64_t first = 0;
    std::vector<std::string> addresses;
};
// nullopt for anything else ("manual", an older or damaged text).
std::optional<std::vector<EvidenceNetwork>> parse_evidence(std::string_view text);

// An evidence network for people: "AS17676 SoftBank Corp." (named through
// its addresses: the table is keyed by address), else the key itself.
std::string evidence_network_label(const EvidenceNetwork& network, const Config& config);

} // namespace authguard
