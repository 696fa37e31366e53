// detector.cpp - signals and verdicts (see detector.hpp for the reasoning).
#include "authguard/detector.hpp"

#include "authguard/address.hpp"
#include "authguard/asn/table.hpp"
#include "authguard/hash.hpp"
#include "authguard/network_names.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

namespace authguard {

std::string_view to_string(Verdict verdict) {
    switch (verdict) {
    case Verdict::allow: return "allow";
    case Verdict::alert: return "alert";
    case Verdict::tempfail: return "tempfail";
    case Verdict::reject: return "reject";
    case Verdict::lock: return "lock";
    case Verdict::refuse_locked: return "refuse-locked";
    }
    return "unknown";
}

NetworkKeys network_keys(std::string_view address_text, const Config& config) {
    auto address = parse_address(address_text);
    if (!address) {
        std::string unknown(unknown_address);
        return {unknown, unknown, unknown};
    }
    bool v4 = address->family == Address::Family::v4;
    NetworkKeys keys{network_key(*address, v4 ? config.ipv4_net_prefix : config.ipv6_net_prefix),
                     {},
                     network_key(*address, v4 ? config.ipv4_wide_prefix : config.ipv6_wide_prefix)};
    std::optional<asn::Provider> provider;
    if (config.asn_table) provider = config.asn_table->lookup(*address);
    keys.wide = provider ? asn::key_of(*provider) : keys.prefix;
    return keys;
}

std::size_t NetworkKeyCache::Hash::operator()(std::string_view s) const {
    return static_cast<std::size_t>(table_hash(s));
}

const NetworkKeyCache::Entry& NetworkKeyCache::entry(std::string_view address_text,
                                                     const Config& config) {
    const std::uint64_t hash = table_hash(address_text) | 1; // (never an empty slot's)
    if (!slots_.empty()) {
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t i = (hash >> 1) & mask; slots_[i].hash != 0; i = (i + 1) & mask)
            if (slots_[i].hash == hash && slots_[i].node->address == address_text)
                return slots_[i].node->entry;
    }
    auto node = std::make_unique<Node>();
    node->address = address_text;
    Entry& e = node->entry;
    e.keys = network_keys(address_text, config);
    e.net = number(e.keys.net);
    e.wide = number(e.keys.wide);
    e.prefix = number(e.keys.prefix);
    e.ipv6 = e.keys.prefix.find(':') != std::string::npos;
    nodes_.push_back(std::move(node));
    if (2 * nodes_.size() > slots_.size()) { // grown: every slot placed again
        std::vector<Slot> old = std::move(slots_);
        // (from small: decide() without a caller's cache fills one for a
        // single decision in a fresh process, where every page costs a fault)
        slots_.assign(std::max<std::size_t>(16, 2 * old.size()), Slot{});
        for (const Slot& slot : old)
            if (slot.hash != 0) insert(slot);
    }
    insert(Slot{hash, nodes_.back().get()});
    return e;
}

void NetworkKeyCache::insert(Slot slot) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = (slot.hash >> 1) & mask; // (its bit 0 is always set)
    while (slots_[i].hash != 0)
        i = (i + 1) & mask;
    slots_[i] = slot;
}

std::uint32_t NetworkKeyCache::number(const std::string& key) {
    return numbers_.try_emplace(key, static_cast<std::uint32_t>(numbers_.size())).first->second;
}

std::string describe_network(std::string_view wide_key, std::string_view address_text,
                             const Config& config) {
    auto provider = provider_of(address_text, config);
    if (!provider || provider->key != wide_key || provider->name.empty())
        return std::string(wide_key);
    return provider->key + " " + provider->name;
}

namespace {

struct Keyed {
    const Observation* observation;
    const NetworkKeyCache::Entry* keys; // in Analysis::cache
};

// The user's live observations with their network keys (from the caller's
// cache, or computed once here).
struct Analysis {
    NetworkKeyCache own; // when the caller keeps none
    NetworkKeyCache* cache;
    std::vector<Keyed> successes, failures;
    // When each key first had a success, over known-period (by the
    // cache's numbers).
    std::unordered_map<std::uint32_t, std::int64_t> wide_first_seen, prefix_first_seen;

    Analysis(const History& history, std::int64_t now, const Config& config, NetworkKeyCache* keys)
        : cache(keys ? keys : &own) {
        auto earliest = [](auto& map, std::uint32_t key, std::int64_t t) {
            auto [it, fresh] = map.emplace(key, t);
            if (!fresh) it->second = std::min(it->second, t);
        };
        successes.reserve(history.observations.size());
        for (auto& o : history.observations) {
            if (o.last < now - config.known_period) continue; // expired, not yet pruned
            Keyed k{&o, &cache->entry(o.address, config)};
            if (o.kind == Observation::Kind::success) {
                earliest(wide_first_seen, k.keys->wide, o.first);
                earliest(prefix_first_seen, k.keys->prefix, o.first);
                successes.push_back(k);
            } else {
                failures.push_back(k);
            }
        }
    }
    Analysis(const Analysis&) = delete; // `cache` may point into itself
    Analysis& operator=(const Analysis&) = delete;

    // Since when this success's wide network counts as new. A provider is
    // new only where the address's prefix is new too: an installation that
    // turns asn-db on keeps every network it knew under prefixes, even
    // where a /16 is split between providers.
    std::int64_t new_since(const Keyed& k) const {
        return std::min(wide_first_seen.at(k.keys->wide), prefix_first_seen.at(k.keys->prefix));
    }
};

// How many distinct keys: sorted in place (the user's history, a hundred
// at most; a std::set allocated a node for each at every event).
int distinct(std::vector<std::uint32_t>& keys) {
    std::sort(keys.begin(), keys.end());
    return static_cast<int>(std::unique(keys.begin(), keys.end()) - keys.begin());
}

void count_window(const Analysis& a, std::int64_t since, WindowCounts& out) {
    std::vector<std::uint32_t> nets, wides, new_wides, failing_wides;
    nets.reserve(a.successes.size());
    wides.reserve(a.successes.size());
    // The new prefixes inside each provider, by provider and address
    // family: an IPv4 /16 and an IPv6 /28 are not the same unit, and a
    // provider's pool mixing both must not add them.
    struct NewPrefix {
        std::uint32_t wide;
        bool ipv6;
        std::uint32_t prefix;
        const std::string* wide_text;
    };
    std::vector<NewPrefix> new_prefixes;
    for (auto& k : a.successes) {
        if (k.observation->last < since) continue;
        ++out.addresses;
        nets.push_back(k.keys->net);
        wides.push_back(k.keys->wide);
        if (a.new_since(k) >= since) new_wides.push_back(k.keys->wide);
        if (a.prefix_first_seen.at(k.keys->prefix) >= since && k.keys->prefix != k.keys->wide)
            new_prefixes.push_back(
                {k.keys->wide, k.keys->ipv6, k.keys->prefix, &k.keys->keys.wide});
    }
    for (auto& k : a.failures) {
        if (k.observation->last < since) continue;
        ++out.failing_addresses;
        out.failures += static_cast<int>(k.observation->count);
        failing_wides.push_back(k.keys->wide);
    }
    out.networks = distinct(nets);
    out.wide_networks = distinct(wides);
    out.new_wide_networks = distinct(new_wides);
    out.failing_wide_networks = distinct(failing_wides);
    // The provider with the most new prefixes; among equals the first by
    // its key's text (then IPv4 first), as it always was.
    std::sort(new_prefixes.begin(), new_prefixes.end(), [](const NewPrefix& x, const NewPrefix& y) {
        return std::tie(x.wide, x.ipv6, x.prefix) < std::tie(y.wide, y.ipv6, y.prefix);
    });
    const NewPrefix* best = nullptr;
    for (std::size_t i = 0, j = 0; i < new_prefixes.size(); i = j) {
        const NewPrefix& group = new_prefixes[i];
        int count = 0;
        for (j = i; j < new_prefixes.size() && new_prefixes[j].wide == group.wide &&
                    new_prefixes[j].ipv6 == group.ipv6;
             ++j)
            if (j == i || new_prefixes[j].prefix != new_prefixes[j - 1].prefix) ++count;
        if (count > out.provider_new_prefixes ||
            (count == out.provider_new_prefixes && best &&
             std::tie(*group.wide_text, group.ipv6) < std::tie(*best->wide_text, best->ipv6))) {
            out.provider_new_prefixes = count;
            best = &group;
        }
    }
    if (best) out.busiest_provider = *best->wide_text;
}

// The new wide networks, oldest first, each with its addresses:
// "<wide>@<first seen>[<address>,...] ...". With `provider` set, the new
// prefixes (/16, /28) inside that provider instead, each keyed by itself:
// the reason names the provider, the evidence its new blocks.
std::string lock_evidence(const Analysis& a, std::int64_t since, const std::string& provider = {}) {
    std::map<std::pair<std::int64_t, std::string>, std::vector<std::string>> by_network;
    for (auto& k : a.successes) {
        if (k.observation->last < since) continue;
        if (provider.empty()) {
            auto first = a.new_since(k);
            if (first < since) continue;
            by_network[{a.wide_first_seen.at(k.keys->wide), k.keys->keys.wide}].push_back(
                k.observation->address);
        } else {
            auto first = a.prefix_first_seen.at(k.keys->prefix);
            if (k.keys->keys.wide != provider || first < since) continue;
            by_network[{first, k.keys->keys.prefix}].push_back(k.observation->address);
        }
    }
    std::string out;
    for (auto& [key, addresses] : by_network) {
        if (!out.empty()) out += ' ';
        out += key.second + "@" + std::to_string(key.first) + "[";
        for (std::size_t i = 0; i < addresses.size(); ++i)
            out += (i ? "," : "") + addresses[i];
        out += "]";
    }
    return out;
}

Signals signals_of(const Analysis& a, const Event& event, const Config& config) {
    Signals s;
    count_window(a, event.time - config.window_short, s.short_window);
    count_window(a, event.time - config.window_long, s.long_window);

    std::map<std::uint16_t, std::set<std::uint32_t>> wides_by_fingerprint;
    for (auto& k : a.failures)
        if (k.observation->fingerprint && k.observation->last >= event.time - config.window_long)
            wides_by_fingerprint[*k.observation->fingerprint].insert(k.keys->wide);
    s.fingerprints = static_cast<int>(wides_by_fingerprint.size());
    for (auto& [fp, wides] : wides_by_fingerprint)
        s.replay_networks = std::max(s.replay_networks, static_cast<int>(wides.size()));

    // Known: the user succeeded from this provider (or, as before asn-db,
    // this prefix) before this event.
    const NetworkKeyCache::Entry& event_keys = a.cache->entry(event.address, config);
    for (auto& k : a.successes) {
        if (k.keys->wide != event_keys.wide && k.keys->prefix != event_keys.prefix) continue;
        bool this_event_only = k.observation->address == event.address &&
                               k.observation->count <= 1 && event.outcome == Outcome::success;
        if (!this_event_only) s.event_network_known = true;
    }
    if (event.outcome == Outcome::bad_password) {
        s.event_new_failing_network = true;
        for (auto& k : a.failures) {
            bool this_event_only = k.observation->address == event.address && k.observation->count <= 1;
            if (k.keys->wide == event_keys.wide && !this_event_only)
                s.event_new_failing_network = false;
        }
    }
    return s;
}

} // namespace

Signals compute_signals(const History& history, const Event& event, const Config& config) {
    return signals_of(Analysis(history, event.time, config, nullptr), event, config);
}

Decision decide(const History& history, const Event& event, const Config& config,
                NetworkKeyCache* keys) {
    Decision d;
    Analysis analysis(history, event.time, config, keys);
    d.signals = signals_of(analysis, event, config);
    const Signals& s = d.signals;
    const Thresholds& t = config.thresholds_for(event.user);

    if (history.lock && history.lock->active(event.time)) {
        d.verdict = Verdict::refuse_locked;
        d.reason = "locked since " + std::to_string(history.lock->since) + ": " + history.lock->reason;
        return d;
    }

    auto over = [](int value, int limit) { return value >= limit; };
    if (event.outcome == Outcome::success) {
        std::int64_t since = 0;
        std::string provider; // set when the within-provider rule locks
        if (over(s.short_window.new_wide_networks, t.lock_new_networks_short)) {
            d.reason = std::to_string(s.short_window.new_wide_networks) +
                       " new networks within " + std::to_string(config.window_short) +
                       "s (lock-new-networks-short=" + std::to_string(t.lock_new_networks_short) + ")";
            since = event.time - config.window_short;
        } else if (over(s.long_window.new_wide_networks, t.lock_new_networks_long)) {
            d.reason = std::to_string(s.long_window.new_wide_networks) +
                       " new networks within " + std::to_string(config.window_long) +
                       "s (lock-new-networks-long=" + std::to_string(t.lock_new_networks_long) + ")";
            since = event.time - config.window_long;
        } else if (over(s.short_window.provider_new_prefixes, t.lock_provider_new_prefixes_short)) {
            provider = s.short_window.busiest_provider;
            d.reason = std::to_string(s.short_window.provider_new_prefixes) + " new blocks of " +
                       describe_network(provider, event.address, config) + " within " +
                       std::to_string(config.window_short) +
                       "s (lock-provider-new-prefixes-short=" +
                       std::to_string(t.lock_provider_new_prefixes_short) + ")";
            since = event.time - config.window_short;
        }
        bool event_brought_it =
            !s.event_network_known ||
            (!provider.empty() && analysis.cache->keys(event.address, config).wide == provider);
        if (!d.reason.empty() && config.alert_only) {
            // Learning after installation: every network is new on day one.
            d.verdict = Verdict::alert;
            d.reason = "would lock (alert-only): " + d.reason;
            d.evidence = lock_evidence(analysis, since, provider);
            d.notify = event_brought_it &&
                       (s.short_window.new_wide_networks == t.lock_new_networks_short ||
                        s.long_window.new_wide_networks == t.lock_new_networks_long ||
                        s.short_window.provider_new_prefixes == t.lock_provider_new_prefixes_short);
            return d;
        }
        if (!d.reason.empty()) {
            d.verdict = Verdict::lock;
            d.notify = true;
            d.evidence = lock_evidence(analysis, since, provider);
            return d;
        }
        if (!s.event_network_known) {
            if (over(s.short_window.failing_wide_networks, t.tempfail_failing_networks_short)) {
                d.verdict = Verdict::tempfail;
                d.reason = "success from an unknown network while " +
                           std::to_string(s.short_window.failing_wide_networks) +
                           " networks fail (tempfail-failing-networks-short=" +
                           std::to_string(t.tempfail_failing_networks_short) + ")";
                return d;
            }
            if (over(s.replay_networks, t.tempfail_replay_networks)) {
                d.verdict = Verdict::tempfail;
                d.reason = "success from an unknown network while one password is replayed from " +
                           std::to_string(s.replay_networks) +
                           " networks (tempfail-replay-networks=" +
                           std::to_string(t.tempfail_replay_networks) + ")";
                return d;
            }
        }
    }

    // Alerts; `reached` is true when this event brought the count to the threshold.
    bool new_success_network = event.outcome == Outcome::success && !s.event_network_known;
    bool new_address = event.outcome == Outcome::success && [&] {
        for (auto& o : history.observations)
            if (o.kind == Observation::Kind::success && o.address == event.address) return o.count <= 1;
        return false;
    }();
    auto alert = [&](int value, int limit, bool event_added, std::string text) {
        if (!d.reason.empty() || !over(value, limit)) return;
        d.reason = std::to_string(value) + " " + text;
        d.notify = event_added && value == limit;
    };
    const std::string within = " within " + std::to_string(config.window_long) + "s";
    alert(s.long_window.new_wide_networks, t.alert_new_networks_long, new_success_network,
          "new networks" + within + " (alert-new-networks-long)");
    alert(s.long_window.addresses, t.alert_addresses_long, new_address,
          "addresses" + within + " (alert-addresses-long)");
    alert(s.long_window.failing_wide_networks, t.alert_failing_networks_long,
          s.event_new_failing_network, "failing networks" + within + " (alert-failing-networks-long)");
    alert(s.replay_networks, t.tempfail_replay_networks, s.event_new_failing_network,
          "networks replaying one wrong password" + within + " (tempfail-replay-networks)");
    if (!d.reason.empty()) d.verdict = Verdict::alert;
    return d;
}

Decision decide_message(const MessageCounts& counts, const std::string& sender,
                        const Config& config) {
    Decision d;
    if (counts.lock && counts.lock->active(counts.now)) {
        d.verdict = Verdict::refuse_locked;
        d.reason = "locked since " + std::to_string(counts.lock->since) + ": " + counts.lock->reason;
        return d;
    }
    bool relay = sender.rfind("relay:", 0) == 0;
    const Thresholds& t = config.thresholds_for(relay ? std::string() : sender);
    struct Limit {
        std::int64_t value;
        int limit;
        const char* what;
    };
    const Limit limits[] = {
        {counts.messages_short, relay ? t.relay_max_messages_short : t.max_messages_short,
         relay ? "relay-max-messages-short" : "max-messages-short"},
        {counts.recipients_short, relay ? t.relay_max_recipients_short : t.max_recipients_short,
         relay ? "relay-max-recipients-short" : "max-recipients-short"},
        {counts.recipients_long, relay ? t.relay_max_recipients_long : t.max_recipients_long,
         relay ? "relay-max-recipients-long" : "max-recipients-long"},
    };
    for (auto& l : limits) {
        if (l.limit <= 0 || l.value <= l.limit) continue;
        d.verdict = config.rate_action == Config::RateAction::reject ? Verdict::reject
                                                                    : Verdict::tempfail;
        d.reason = std::to_string(l.value) + " over " + l.what + "=" + std::to_string(l.limit);
        return d;
    }
    return d;
}

} // namespace authguard
