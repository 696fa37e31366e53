// commands.cpp - authguardctl's commands (show, locks, unlock, lock, top,
// stats, check-config) on top of authguard's Store, detector and notify.
//
// Every count shown is computed by authguard::compute_signals, the same code
// the hooks decide with, at the clock the hooks would use; this tool never
// re-implements a rule. Everything from the store is printed escaped.
#include "ctl.hpp"

#include "authguard/address.hpp"
#include "authguard/asn/table.hpp"
#include "authguard/detector.hpp"
#include "authguard/event.hpp"
#include "authguard/guard.hpp"
#include "authguard/lmdb_store.hpp"
#include "authguard/log.hpp"
#include "authguard/network_names.hpp"
#include "authguard/notify.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <set>

namespace authguardctl {

namespace ag = authguard;

// --- Context ---

namespace {

// Where the control directory came from, for a message about it.
std::string control_dir_origin(const Context& ctx) {
    if (ctx.options.count("control")) return "--control";
    if (const char* d = std::getenv("AUTHGUARD_CONTROL"); d && *d) return "$AUTHGUARD_CONTROL";
    if (const char* h = std::getenv("QMAILHOME"); h && *h) return "$QMAILHOME/control";
    return "the default";
}

// Root must never create the embedded store's directory as root's: the
// hooks run as the smtpd's user, and from then on every login would go
// through unguarded (fail-open). It is created owned by that user
// (AUTHGUARD_USER, default vpopmail), or not at all. (An existing
// directory keeps its owner: the store gives the files root creates in it
// to the directory's owner.)
void prepare_lmdb_directory(const ag::Config& c) {
    if (c.store.kind != ag::StoreConfig::Kind::lmdb || ::geteuid() != 0) return;
    const std::filesystem::path dir = c.store.lmdb_path;
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0 || errno != ENOENT) return; // the store reports the rest
    const std::string user = ag::hooks_user();
    const std::string where = "lmdb " + dir.string() + ": ";
    errno = 0;
    const passwd* pw = ::getpwnam(user.c_str());
    if (!pw)
        throw ag::StoreError(
            where +
            "does not exist, and root would create it as root, so that the hooks (run as "
            "qmail-smtpd's user) could not use it; there is no user '" +
            user +
            "': set AUTHGUARD_USER to the user qmail-smtpd runs as, or create the directory "
            "(install -d -o USER -m 750 " +
            dir.string() + ")");
    if (pw->pw_uid == 0) return; // AUTHGUARD_USER=root: the hooks run as root
    // Mode 0750, as make install makes it. Made under another name and
    // given away before it appears, so that no hook ever sees it root's.
    std::filesystem::path tmp =
        dir.parent_path() / ("." + dir.filename().string() + ".new." + std::to_string(::getpid()));
    if (::mkdir(tmp.c_str(), 0750) != 0)
        throw ag::StoreError(where + "cannot create the directory: " + std::strerror(errno));
    if (::chown(tmp.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        int err = errno;
        ::rmdir(tmp.c_str());
        throw ag::StoreError(where + "cannot give the new directory to " + user + ": " +
                             std::strerror(err));
    }
    if (::rename(tmp.c_str(), dir.c_str()) != 0) {
        int err = errno;
        ::rmdir(tmp.c_str());
        if (err != EEXIST && err != ENOTEMPTY) // else a hook made it meanwhile
            throw ag::StoreError(where + "cannot create the directory: " + std::strerror(err));
        return;
    }
    std::cerr << "authguardctl: created " << esc(dir.string()) << " owned by " << esc(user)
              << " (AUTHGUARD_USER, the user the hooks run as)\n";
}

} // namespace

const ag::Config& Context::config() {
    if (!config_) {
        // A mistyped or missing control directory: say which one was read,
        // not what later fails beside it ("cannot create the directory").
        std::error_code ec;
        if (!std::filesystem::is_directory(control_dir, ec))
            throw ag::ConfigError("the control directory " + control_dir.string() + " (" +
                                  control_dir_origin(*this) +
                                  ") does not exist; give it with --control DIR or "
                                  "AUTHGUARD_CONTROL=DIR");
        if (!std::filesystem::exists(control_dir / "authguard", ec))
            std::cerr << "authguardctl: warning: the control directory "
                      << esc(control_dir.string()) << " (" << control_dir_origin(*this)
                      << ") has no authguard file: every setting is the default (give another "
                         "with --control DIR or AUTHGUARD_CONTROL=DIR)\n";
        if (command == "follow") {
            // follow feeds the store as the hooks do, so it runs on what
            // they run on: the last valid files when these do not parse.
            ag::LoadedConfig loaded = ag::load_config_or_last_valid(control_dir);
            if (!loaded.problem.empty())
                std::cerr << "authguardctl: error: " << esc(loaded.message()) << "\n";
            config_ = std::make_unique<ag::Config>(std::move(loaded.config));
            prepare_lmdb_directory(*config_); // follow opens its own store
        } else {
            config_ = std::make_unique<ag::Config>(ag::load_config(control_dir));
        }
        // Every view counts networks: say when they are not the providers
        // the control file asks for (or the table is old).
        if (!config_->asn_db_problem.empty())
            std::cerr << "authguardctl: warning: asn-db: " << esc(config_->asn_db_problem) << "\n";
    }
    return *config_;
}

ag::Store& Context::store() {
    if (!store_) {
        prepare_lmdb_directory(config());
        store_ = ag::open_store(config());
    }
    return *store_;
}

std::int64_t Context::now() {
    std::int64_t t = ag::event_time(config());
    return t != 0 ? t : store().now();
}

std::string Context::user_arg(std::size_t index) {
    std::string user;
    if (auto why = ag::normalize_user(args.at(index), config(), user); !why.empty())
        throw UsageError("user '" + args[index] + "': " + why);
    return user;
}

namespace {

constexpr std::int64_t far_future = std::numeric_limits<std::int64_t>::max();

std::string thresholds_text(const ag::Thresholds& t) {
    std::string out;
    for (auto& [name, field] : ag::threshold_fields())
        out += (out.empty() ? "" : " ") + std::string(name) + "=" + std::to_string(t.*field);
    return out;
}

void thresholds_json(Json& j, const ag::Thresholds& t) {
    j.begin_object();
    for (auto& [name, field] : ag::threshold_fields())
        j.key(std::string(name)).value(t.*field);
    j.end_object();
}

// Columns separated by two spaces; the last one is never padded, so a long
// (escaped) user name or reason does not widen the table.
class Table {
  public:
    Table(std::vector<std::string> header, std::vector<bool> right_aligned)
        : right_(std::move(right_aligned)) {
        rows_.push_back(std::move(header));
    }
    void row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
    bool empty() const { return rows_.size() == 1; }
    void print(std::ostream& out, std::string_view indent = "") const {
        std::vector<std::size_t> width;
        for (auto& r : rows_)
            for (std::size_t i = 0; i < r.size(); ++i) {
                if (width.size() <= i) width.push_back(0);
                width[i] = std::max(width[i], r[i].size());
            }
        for (auto& r : rows_) {
            std::string line(indent);
            for (std::size_t i = 0; i < r.size(); ++i) {
                bool last = i + 1 == r.size();
                bool right = i < right_.size() && right_[i];
                if (i) line += "  ";
                line += right ? rpad(r[i], width[i]) : last ? r[i] : pad(r[i], width[i]);
            }
            out << line << "\n";
        }
    }

  private:
    std::vector<std::vector<std::string>> rows_;
    std::vector<bool> right_;
};

// "provider_name": the name a label gives a provider key, null for a
// prefix or where the table names none.
void provider_name_json(Json& j, std::string_view key, std::string_view label) {
    auto name = ag::label_name(key, label);
    j.key("provider_name");
    if (name.empty())
        j.null();
    else
        j.value(name);
}

// A wide network standing for several of a user's addresses, and how
// many: the one with the most successful addresses since `since` (the
// earliest seen among equals). Which networks a user's logins come from is
// what tells a phone on one carrier from a botnet.
struct BusiestNetwork {
    std::string key;   // the detector's: "AS17676", "126.0.0.0/16"
    std::string label; // "AS17676 SoftBank Corp.", else the key
    int addresses = 0;
};

std::optional<BusiestNetwork> busiest_network(const ag::History& h, std::int64_t since,
                                              std::int64_t now, const ag::Config& config) {
    struct Count {
        int addresses = 0;
        std::int64_t first = 0;
        std::string example; // an address of it, to name a provider by
    };
    std::map<std::string, Count> counts;
    for (auto& o : h.observations) {
        // the observations compute_signals counts in the window
        if (o.kind != ag::Observation::Kind::success || o.last < since ||
            o.last < now - config.known_period)
            continue;
        Count& c = counts[ag::network_keys(o.address, config).wide];
        if (c.addresses++ == 0 || o.first < c.first) {
            c.first = o.first;
            c.example = o.address;
        }
    }
    const std::pair<const std::string, Count>* best = nullptr;
    for (auto& entry : counts)
        if (!best || entry.second.addresses > best->second.addresses ||
            (entry.second.addresses == best->second.addresses &&
             entry.second.first < best->second.first))
            best = &entry;
    if (!best) return std::nullopt;
    return BusiestNetwork{best->first,
                          ag::describe_network(best->first, best->second.example, config),
                          best->second.addresses};
}

void busiest_json(Json& j, const std::optional<BusiestNetwork>& busiest) {
    j.key("busiest_wide_network");
    if (!busiest) {
        j.null();
        return;
    }
    j.begin_object().key("network").value(busiest->key);
    provider_name_json(j, busiest->key, busiest->label);
    j.key("addresses").value(busiest->addresses).end_object();
}

// A lock's evidence in one line, for `locks`: each new network's name once,
// with its number of addresses where there are several. Empty for evidence
// that is none ("manual").
std::string evidence_summary(const ag::Lock& lock, const ag::Config& config) {
    auto networks = ag::parse_evidence(lock.evidence);
    if (!networks) return {};
    std::vector<std::pair<std::string, std::size_t>> named; // in the evidence's order
    for (auto& n : *networks) {
        std::string label = ag::evidence_network_label(n, config);
        auto it = std::find_if(named.begin(), named.end(),
                               [&](auto& entry) { return entry.first == label; });
        if (it == named.end())
            named.emplace_back(label, n.addresses.size());
        else
            it->second += n.addresses.size();
    }
    std::string out;
    for (auto& [label, addresses] : named)
        out += (out.empty() ? "" : ", ") + esc(label) +
               (addresses > 1 ? " (" + std::to_string(addresses) + " addresses)" : "");
    return out;
}

std::string lock_state(const std::optional<ag::Lock>& lock, std::int64_t now) {
    if (!lock) return "-";
    return lock->active(now) ? "locked" : "expired";
}

void lock_json(Json& j, const ag::Lock& lock, std::int64_t now, const ag::Config& config) {
    j.begin_object();
    j.key("active").value(lock.active(now));
    j.time("since", lock.since);
    j.time("until", lock.until);
    j.key("reason").value(lock.reason);
    j.key("evidence").value(lock.evidence);
    j.key("evidence_networks");
    if (auto networks = ag::parse_evidence(lock.evidence)) {
        j.begin_array();
        for (auto& n : *networks) {
            j.begin_object().key("network").value(n.network).time("first", n.first);
            provider_name_json(j, n.network, ag::evidence_network_label(n, config));
            j.key("addresses").begin_array();
            for (auto& a : n.addresses)
                j.value(a);
            j.end_array().end_object();
        }
        j.end_array();
    } else {
        j.null();
    }
    j.key("attempts_after").value(lock.attempts_after);
    j.time("last_attempt", lock.last_attempt);
    j.end_object();
}

std::string until_text(const ag::Lock& lock) {
    return lock.until == 0 ? std::string("until unlocked") : "until " + utc(lock.until);
}

// Who ran the tool, for the log.
std::string admin_name() {
    std::string who;
    if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_name)
        who = pw->pw_name;
    else
        who = "uid-" + std::to_string(::getuid());
    if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo)
        who += "/sudo:" + std::string(sudo);
    return who;
}

// The hooks' logger: syslog (mail, ident authguard) and the log-file copy.
void log_line(const ag::Config& config, ag::Logger::Level level, const std::string& line) {
    ag::Logger logger;
    if (!config.log_file.empty() && !std::getenv("AUTHGUARD_LOG_FILE"))
        logger.set_copy_path(config.log_file);
    logger.write(level, line);
}

bool is_empty(const ag::History& h) {
    return h.observations.empty() && !h.lock && h.dropped == 0;
}

ag::Signals signals_at(const ag::History& h, const std::string& user, std::int64_t now,
                       const ag::Config& config) {
    ag::Event event;
    event.user = user;
    event.address = std::string(ag::unknown_address);
    event.time = now;
    return ag::compute_signals(h, event, config);
}

const char* kind_text(ag::Observation::Kind kind) {
    return kind == ag::Observation::Kind::success ? "success" : "failure";
}

std::int64_t count_option(const Context& ctx, const char* name, int min) {
    int v = ctx.options[name].as<int>();
    if (v < min)
        throw UsageError(std::string("--") + name + " wants a number of at least " +
                         std::to_string(min));
    return v;
}

std::int64_t duration_option(const Context& ctx, const char* name) {
    const auto& text = ctx.options[name].as<std::string>();
    auto d = ag::parse_duration(text);
    if (!d || *d <= 0)
        throw UsageError(std::string("--") + name +
                         " wants a duration such as 90s, 15m, 1h, 30d, not '" + text + "'");
    return *d;
}

} // namespace

// --- show USER ---

int cmd_show(Context& ctx) {
    std::string user = ctx.user_arg(0);
    const ag::Config& config = ctx.config();
    ag::Store& store = ctx.store();
    ag::History h = store.load(user);
    if (is_empty(h)) throw NotFound("nothing stored for user '" + user + "'");
    std::int64_t now = ctx.now();
    ag::Signals s = signals_at(h, user, now, config);
    const ag::Thresholds& t = config.thresholds_for(user);

    std::vector<const ag::Observation*> obs;
    for (auto& o : h.observations)
        obs.push_back(&o);
    std::sort(obs.begin(), obs.end(), [](auto* a, auto* b) {
        // successes first, then by first seen
        if (a->kind != b->kind) return a->kind == ag::Observation::Kind::success;
        if (a->first != b->first) return a->first < b->first;
        return a->address < b->address;
    });
    auto old = [&](const ag::Observation& o) { return o.last < now - config.known_period; };

    struct Row {
        const char* name;
        int ag::WindowCounts::*field;
    };
    static const Row rows[] = {
        {"addresses", &ag::WindowCounts::addresses},
        {"networks", &ag::WindowCounts::networks},
        {"wide_networks", &ag::WindowCounts::wide_networks},
        {"new_wide_networks", &ag::WindowCounts::new_wide_networks},
        // the within-provider rule's count (lock-provider-new-prefixes-short)
        {"provider_new_prefixes", &ag::WindowCounts::provider_new_prefixes},
        {"failing_addresses", &ag::WindowCounts::failing_addresses},
        {"failing_wide_networks", &ag::WindowCounts::failing_wide_networks},
        {"failures", &ag::WindowCounts::failures},
    };

    if (ctx.json) {
        Json j;
        j.begin_object();
        j.key("user").value(user);
        j.time("now", now);
        j.key("observations").begin_array();
        for (auto* o : obs) {
            auto keys = ag::network_keys(o->address, config);
            j.begin_object();
            j.key("kind").value(kind_text(o->kind));
            j.key("address").value(o->address);
            j.key("network").value(keys.net);
            j.key("wide_network").value(keys.wide);
            // The provider counted as the wide network (asn-db), and the
            // prefix that was counted before (and is where there is none).
            auto provider = ag::provider_of(o->address, config);
            j.key("provider");
            if (provider)
                j.value(provider->key);
            else
                j.null();
            j.key("provider_name");
            if (provider && !provider->name.empty())
                j.value(provider->name);
            else
                j.null();
            j.key("wide_prefix").value(keys.prefix);
            j.time("first", o->first);
            j.time("last", o->last);
            j.key("count").value(o->count);
            j.key("fingerprint");
            if (o->fingerprint)
                j.value(static_cast<std::int64_t>(*o->fingerprint));
            else
                j.null();
            j.key("service");
            if (o->service.empty())
                j.null();
            else
                j.value(o->service);
            j.key("expired").value(old(*o));
            j.end_object();
        }
        j.end_array();
        j.key("dropped").value(h.dropped);
        j.key("windows").begin_object();
        for (auto [name, counts, seconds] :
             {std::tuple{"short", &s.short_window, config.window_short},
              std::tuple{"long", &s.long_window, config.window_long}}) {
            j.key(name).begin_object().key("seconds").value(seconds);
            for (auto& r : rows)
                j.key(r.name).value(counts->*r.field);
            j.end_object();
        }
        j.end_object();
        j.key("replay_networks").value(s.replay_networks);
        j.key("fingerprints").value(s.fingerprints);
        j.key("thresholds");
        thresholds_json(j, t);
        j.key("lock");
        if (h.lock)
            lock_json(j, *h.lock, now, config);
        else
            j.null();
        j.end_object();
        print_json(j);
        return exit_ok;
    }

    auto& out = std::cout;
    out << "user:        " << esc(user) << "\n";
    out << "clock:       " << utc(now) << "\n";
    if (!h.lock) {
        out << "lock:        none\n";
    } else {
        const ag::Lock& l = *h.lock;
        out << "lock:        " << (l.active(now) ? "LOCKED" : "expired") << " since "
            << utc(l.since) << ", " << until_text(l) << "\n";
        out << "  reason:    " << esc(l.reason) << "\n";
        out << "  attempts:  " << l.attempts_after << " after the lock";
        if (l.attempts_after > 0) out << ", last " << utc(l.last_attempt);
        out << "\n";
        if (auto networks = ag::parse_evidence(l.evidence)) {
            out << "  evidence:  " << networks->size() << " new networks\n";
            Table table({"WIDE NETWORK", "FIRST SEEN", "ADDRESSES"}, {});
            for (auto& n : *networks) {
                std::string list;
                for (auto& a : n.addresses)
                    list += (list.empty() ? "" : " ") + esc(a);
                table.row({esc(ag::evidence_network_label(n, config)), utc(n.first), list});
            }
            table.print(out, "    ");
        } else {
            out << "  evidence:  " << esc(l.evidence) << "\n";
        }
    }

    out << "\n";
    Table windows({"COUNTS", "SHORT " + duration_text(config.window_short),
                   "LONG " + duration_text(config.window_long)},
                  {false, true, true});
    for (auto& r : rows) {
        std::string name = r.name;
        std::replace(name.begin(), name.end(), '_', ' ');
        windows.row({name, std::to_string(s.short_window.*r.field),
                     std::to_string(s.long_window.*r.field)});
    }
    windows.print(out);
    out << "password replayed from " << s.replay_networks << " wide networks (" << s.fingerprints
        << " failing fingerprints, long window)\n";
    out << "thresholds: " << thresholds_text(t) << "\n\n";

    out << "observations: " << h.observations.size() << " stored";
    if (h.dropped)
        out << ", " << h.dropped << " dropped (max-entries " << config.max_entries << ")";
    out << "\n";
    if (!obs.empty()) {
        Table table({"KIND", "FIRST SEEN", "LAST SEEN", "COUNT", "FP", "SERVICE", "NETWORK",
                     "WIDE NETWORK", "ADDRESS"},
                    {false, false, false, true, true});
        bool any_old = false;
        for (auto* o : obs) {
            auto keys = ag::network_keys(o->address, config);
            std::string kind = kind_text(o->kind);
            if (old(*o)) {
                kind += "*";
                any_old = true;
            }
            table.row({kind, utc(o->first), utc(o->last), std::to_string(o->count),
                       o->fingerprint ? std::to_string(*o->fingerprint) : "-",
                       o->service.empty() ? "-" : esc(o->service), esc(keys.net),
                       esc(ag::address_network_label(o->address, config)), esc(o->address)});
        }
        table.print(out, "  ");
        if (any_old)
            out << "  * last seen before known-period (" << duration_text(config.known_period)
                << "): ignored, to be pruned\n";
    }
    return exit_ok;
}

// --- locks ---

int cmd_locks(Context& ctx) {
    ag::Store& store = ctx.store();
    std::int64_t now = ctx.now();
    std::vector<std::pair<std::string, ag::Lock>> locks;
    for (auto& user : store.users()) {
        ag::History h = store.load(user);
        if (h.lock) locks.emplace_back(user, *h.lock);
    }
    std::sort(locks.begin(), locks.end(), [](auto& a, auto& b) {
        return std::tie(a.second.since, a.first) < std::tie(b.second.since, b.first);
    });

    if (ctx.json) {
        Json j;
        j.begin_object().time("now", now).key("locks").begin_array();
        for (auto& [user, lock] : locks) {
            j.begin_object().key("user").value(user).key("lock");
            lock_json(j, lock, now, ctx.config());
            j.end_object();
        }
        j.end_array().end_object();
        print_json(j);
        return exit_ok;
    }
    if (locks.empty()) {
        std::cout << "no locks\n";
        return exit_ok;
    }
    Table table({"SINCE", "UNTIL", "STATE", "ATTEMPTS", "USER", "REASON"},
                {false, false, false, true});
    // With providers (asn-db) the new networks follow the reason: "AS17676"
    // in the evidence says nothing to a person, and the reason names a
    // provider only for the within-provider rule. Without a table the
    // table is as it always was (show lists the evidence).
    bool named = ctx.config().asn_table != nullptr;
    for (auto& [user, lock] : locks) {
        std::string reason = esc(lock.reason);
        if (std::string networks = named ? evidence_summary(lock, ctx.config()) : "";
            !networks.empty())
            reason += "; new networks: " + networks;
        table.row({utc(lock.since), utc(lock.until), lock_state(lock, now),
                   std::to_string(lock.attempts_after), esc(user), reason});
    }
    table.print(std::cout);
    return exit_ok;
}

// --- unlock USER [--keep-history] ---

namespace {

// What unlock forgets: the successful logins in the networks the lock's
// evidence names as new (detector.cpp, lock_evidence), and nothing else.
// An address the evidence lists goes; so does a later one in one of those
// networks (wide key, or prefix for the within-provider rule), first seen
// no earlier than the network. The owner's own networks stay known however
// recently they were first seen. A manual lock (evidence "manual") or an
// evidence that does not parse names no network: nothing is forgotten.
struct Forget {
    std::vector<std::string> networks;  // the evidence's, in its order
    std::vector<std::string> addresses; // sorted
    std::optional<std::int64_t> since;  // the earliest network's first-seen
};

Forget evidence_logins(const ag::History& h, const ag::Config& config) {
    Forget out;
    auto evidence = ag::parse_evidence(h.lock ? h.lock->evidence : std::string());
    if (!evidence) return out;
    std::map<std::string, std::int64_t> first_seen; // network -> its first-seen
    std::set<std::string> listed;
    for (auto& n : *evidence) {
        out.networks.push_back(n.network);
        first_seen.emplace(n.network, n.first);
        listed.insert(n.addresses.begin(), n.addresses.end());
        out.since = out.since ? std::min(*out.since, n.first) : n.first;
    }
    for (auto& o : h.observations) {
        if (o.kind != ag::Observation::Kind::success) continue;
        bool forget = listed.count(o.address) > 0;
        if (!forget) {
            ag::NetworkKeys keys = ag::network_keys(o.address, config);
            for (const std::string* key : {&keys.wide, &keys.prefix})
                if (auto it = first_seen.find(*key);
                    it != first_seen.end() && o.first >= it->second)
                    forget = true;
        }
        if (forget) out.addresses.push_back(o.address);
    }
    std::sort(out.addresses.begin(), out.addresses.end());
    return out;
}

} // namespace

int cmd_unlock(Context& ctx) {
    std::string user = ctx.user_arg(0);
    const ag::Config& config = ctx.config();
    ag::Store& store = ctx.store();
    bool keep = ctx.options["keep-history"].as<bool>();

    ag::History h = store.load(user);
    if (!h.lock) throw NotFound("user '" + user + "' is not locked");
    const ag::Lock lock = *h.lock;
    const bool manual = lock.evidence == "manual";
    Forget forget = keep ? Forget{} : evidence_logins(h, config);
    const std::vector<std::string>& forgotten = forget.addresses;

    if (!store.clear_lock(user, forgotten))
        throw NotFound("user '" + user + "' is not locked (any more)");

    std::string line = "unlock user=" + ag::escape_for_log(user) +
                       " by=" + ag::escape_for_log(admin_name(), 64) +
                       " lock_since=" + std::to_string(lock.since) +
                       " attempts_after=" + std::to_string(lock.attempts_after) +
                       (keep     ? std::string(" history=kept")
                        : manual ? std::string(" history=kept-manual-lock")
                                 : " forget_networks=" + std::to_string(forget.networks.size()) +
                                       " forgotten=" + std::to_string(forgotten.size())) +
                       " reason=\"" + ag::escape_for_log(lock.reason, 256) + "\"";
    log_line(config, ag::Logger::Level::warning, line);

    if (ctx.json) {
        Json j;
        j.begin_object().key("user").value(user).key("unlocked").value(true);
        j.key("lock");
        lock_json(j, lock, ctx.now(), config);
        j.key("forget_since");
        if (forget.since)
            j.value(*forget.since);
        else
            j.null();
        j.key("forget_networks").begin_array();
        for (auto& n : forget.networks)
            j.value(n);
        j.end_array();
        j.key("forgotten").begin_array();
        for (auto& a : forgotten)
            j.value(a);
        j.end_array().end_object();
        print_json(j);
        return exit_ok;
    }
    std::cout << "unlocked " << esc(user) << " (locked since " << utc(lock.since) << ": "
              << esc(lock.reason) << ")\n";
    if (keep) {
        std::cout << "history kept\n";
    } else if (manual) {
        std::cout << "history kept: a manual lock names no networks to forget\n";
    } else if (forget.networks.empty()) {
        std::cout << "history kept: the lock's evidence names no networks\n";
    } else {
        std::cout << "forgot " << forgotten.size()
                  << " successful addresses in the networks the lock named as new (";
        for (std::size_t i = 0; i < forget.networks.size(); ++i)
            std::cout << (i ? " " : "") << esc(forget.networks[i]);
        std::cout << "):";
        for (auto& a : forgotten)
            std::cout << " " << esc(a);
        std::cout << "\n";
    }
    return exit_ok;
}

// --- lock USER --reason TEXT [--for DURATION] ---

int cmd_lock(Context& ctx) {
    if (!ctx.options.count("reason")) throw UsageError("lock wants --reason TEXT");
    std::string reason = ctx.options["reason"].as<std::string>();
    if (reason.empty()) throw UsageError("--reason wants a text");
    if (reason.size() > 1000) throw UsageError("--reason is longer than 1000 bytes");
    for (unsigned char c : reason)
        if (c < 0x20 || c == 0x7f) throw UsageError("--reason contains a control character");
    std::optional<std::int64_t> lock_for;
    if (ctx.options.count("for")) lock_for = duration_option(ctx, "for");
    std::string user = ctx.user_arg(0);
    const ag::Config& config = ctx.config();
    ag::Store& store = ctx.store();

    std::int64_t now = ctx.now();
    ag::Lock lock{now, lock_for ? now + *lock_for : 0, reason, "manual", 0, now};
    // An expired lock (lock-expiry) still occupies the key and would make
    // set_lock refuse: remove it first, keeping the history.
    if (auto existing = store.load(user).lock; existing && !existing->active(now))
        store.clear_lock(user, {});
    if (!store.set_lock(user, lock)) {
        auto existing = store.load(user).lock;
        throw NotFound("user '" + user + "' is already locked" +
                       (existing ? " since " + utc(existing->since) : std::string()));
    }

    std::string failed = ag::notify_lock(
        config, user, ag::manual_lock_message(user, reason, admin_name(), now, lock.until));
    std::string line = "manual-lock user=" + ag::escape_for_log(user) +
                       " by=" + ag::escape_for_log(admin_name(), 64) +
                       " since=" + std::to_string(now) + " until=" + std::to_string(lock.until) +
                       " reason=\"" + ag::escape_for_log(reason, 256) + "\"";
    if (!failed.empty()) line += " note=\"cannot start " + ag::escape_for_log(failed, 256) + "\"";
    log_line(config, ag::Logger::Level::warning, line);

    if (!failed.empty())
        std::cerr << "authguardctl: warning: locked, but cannot start " << esc(failed) << "\n";
    if (config.user_allowed(user))
        std::cerr << "authguardctl: warning: '" << esc(user)
                  << "' is listed in authguard-allow, which skips every check: the lock has "
                     "no effect while it is listed there\n";

    if (ctx.json) {
        Json j;
        j.begin_object().key("user").value(user).key("locked").value(true);
        j.key("lock");
        lock_json(j, lock, now, config);
        j.key("notify_failed");
        if (failed.empty())
            j.null();
        else
            j.value(failed);
        j.end_object();
        print_json(j);
        return exit_ok;
    }
    std::cout << "locked " << esc(user) << " since " << utc(now) << ", " << until_text(lock) << ": "
              << esc(reason) << "\n";
    return exit_ok;
}

// --- top [--limit N] [--window DURATION] ---

int cmd_top(Context& ctx) {
    std::int64_t limit = count_option(ctx, "limit", 0);
    ag::Config config = ctx.config(); // a copy: --window replaces window-long
    if (ctx.options.count("window")) config.window_long = duration_option(ctx, "window");
    ag::Store& store = ctx.store();
    std::int64_t now = ctx.now();

    struct Entry {
        std::string user;
        ag::WindowCounts counts;
        std::optional<ag::Lock> lock;
        std::optional<BusiestNetwork> busiest;
    };
    std::vector<Entry> entries;
    for (auto& user : store.users()) {
        ag::History h = store.load(user);
        ag::Signals s = signals_at(h, user, now, config);
        if (s.long_window.addresses == 0 && s.long_window.failing_addresses == 0) continue;
        entries.push_back({user, s.long_window, h.lock,
                           busiest_network(h, now - config.window_long, now, config)});
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        if (a.counts.wide_networks != b.counts.wide_networks)
            return a.counts.wide_networks > b.counts.wide_networks;
        if (a.counts.addresses != b.counts.addresses)
            return a.counts.addresses > b.counts.addresses;
        return a.user < b.user;
    });
    if (limit > 0 && entries.size() > static_cast<std::size_t>(limit))
        entries.resize(static_cast<std::size_t>(limit));

    if (ctx.json) {
        Json j;
        j.begin_object().time("now", now).key("window").value(config.window_long);
        j.key("users").begin_array();
        for (auto& e : entries) {
            j.begin_object().key("user").value(e.user);
            j.key("wide_networks").value(e.counts.wide_networks);
            j.key("networks").value(e.counts.networks);
            j.key("addresses").value(e.counts.addresses);
            j.key("new_wide_networks").value(e.counts.new_wide_networks);
            j.key("failing_wide_networks").value(e.counts.failing_wide_networks);
            j.key("failures").value(e.counts.failures);
            busiest_json(j, e.busiest);
            j.key("lock");
            if (e.lock)
                j.value(lock_state(e.lock, now));
            else
                j.null();
            j.end_object();
        }
        j.end_array().end_object();
        print_json(j);
        return exit_ok;
    }
    if (entries.empty()) {
        std::cout << "no logins within " << duration_text(config.window_long) << "\n";
        return exit_ok;
    }
    // With providers (asn-db), which one most logins come from: a phone's
    // carrier (many addresses, one provider) is told from a botnet (one
    // address per provider) at a glance. Without a table the columns are as
    // they always were.
    bool named = config.asn_table != nullptr;
    std::vector<std::string> header{"WIDE", "NETS", "ADDRS", "NEW", "FAILING", "LOCK"};
    if (named) header.push_back("BUSIEST WIDE NETWORK");
    header.push_back("USER");
    Table table(header, {true, true, true, true, true});
    for (auto& e : entries) {
        std::vector<std::string> row{std::to_string(e.counts.wide_networks),
                                     std::to_string(e.counts.networks),
                                     std::to_string(e.counts.addresses),
                                     std::to_string(e.counts.new_wide_networks),
                                     std::to_string(e.counts.failing_wide_networks),
                                     lock_state(e.lock, now)};
        if (named)
            row.push_back(e.busiest
                              ? esc(e.busiest->label) + ": " + std::to_string(e.busiest->addresses)
                              : "-");
        row.push_back(esc(e.user));
        table.row(std::move(row));
    }
    std::cout << "within " << duration_text(config.window_long) << " before " << utc(now) << "\n";
    table.print(std::cout);
    return exit_ok;
}

// --- stats ---

namespace {

// The store the configuration names, for people.
std::string store_text(const ag::Config& c) {
    if (c.store.kind == ag::StoreConfig::Kind::lmdb)
        return "lmdb " + esc(c.store.lmdb_path) + " (map " +
               std::to_string(c.store.lmdb_map_size >> 20) + " MiB, writers wait up to " +
               std::to_string(c.store.lmdb_lock_timeout_ms) + " ms), key prefix " +
               esc(c.store.key_prefix);
    std::string where = "redis " + esc(c.store.redis);
    if (!c.store.sentinels.empty()) {
        where = "redis primary '" + esc(c.store.sentinel_master) + "' by sentinel";
        for (auto& s : c.store.sentinels)
            where += " " + esc(s);
    }
    return where + ", db " + std::to_string(c.store.redis_db) + ", key prefix " +
           esc(c.store.key_prefix);
}

void store_json(Json& j, const ag::Config& c) {
    bool lmdb = c.store.kind == ag::StoreConfig::Kind::lmdb;
    j.key("store").value(lmdb ? "lmdb" : "redis");
    j.key("lmdb_path").value(c.store.lmdb_path).key("lmdb_map_size").value(c.store.lmdb_map_size);
    j.key("lmdb_lock_timeout_ms").value(c.store.lmdb_lock_timeout_ms);
    j.key("sentinels").begin_array();
    for (auto& s : c.store.sentinels)
        j.value(s);
    j.end_array().key("sentinel_master").value(c.store.sentinel_master);
}

} // namespace

int cmd_stats(Context& ctx) {
    const ag::Config& config = ctx.config();
    ag::StoreStats s = ctx.store().stats();
    if (ctx.json) {
        Json j;
        j.begin_object();
        j.key("users").value(s.users).key("locks").value(s.locks);
        j.key("observations").value(s.observations).key("memory_bytes").value(s.memory_bytes);
        j.key("redis").value(config.store.redis).key("key_prefix").value(config.store.key_prefix);
        store_json(j, config);
        j.end_object();
        print_json(j);
        return exit_ok;
    }
    Table table({"users", std::to_string(s.users)}, {});
    table.row({"locks", std::to_string(s.locks)});
    table.row({"observations", std::to_string(s.observations)});
    table.row({"memory", std::to_string(s.memory_bytes) + " bytes"});
    table.row({"store", store_text(config)});
    table.print(std::cout);
    return exit_ok;
}

// --- check-config ---

namespace {

// What check-config found besides the settings: errors (exit 3 or 4) and
// warnings, each one line.
struct Findings {
    std::vector<std::string> errors, warnings;
    bool store_error = false; // the store cannot be used: exit 4 (unless a config error)
};

// Whether `pw`'s user may write (and enter) `path`, by the mode bits (root
// may always). ACLs are not read.
bool writable_by(const std::filesystem::path& path, const passwd& pw, bool directory) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return false;
    if (pw.pw_uid == 0) return true;
    mode_t need_user = S_IWUSR | (directory ? S_IXUSR : 0);
    mode_t need_group = S_IWGRP | (directory ? S_IXGRP : 0);
    mode_t need_other = S_IWOTH | (directory ? S_IXOTH : 0);
    if (st.st_uid == pw.pw_uid) return (st.st_mode & need_user) == need_user;
    bool in_group = st.st_gid == pw.pw_gid;
    if (!in_group) {
        int n = 64;
        std::vector<gid_t> groups(static_cast<std::size_t>(n));
        if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) {
            groups.resize(static_cast<std::size_t>(n));
            ::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n);
        }
        groups.resize(static_cast<std::size_t>(std::max(n, 0)));
        in_group = std::find(groups.begin(), groups.end(), st.st_gid) != groups.end();
    }
    if (in_group) return (st.st_mode & need_group) == need_group;
    return (st.st_mode & need_other) == need_other;
}

std::string dkim_canonicalization(const ag::Config& c) {
    return std::string(c.dkim.simple_header ? "simple" : "relaxed") + "/" +
           (c.dkim.simple_body ? "simple" : "relaxed");
}

// dkim-verify-policy as written back ("" when every result is accepted).
std::string dkim_policy_text(const ag::Config& c) {
    std::string out;
    for (const auto& [result, action] : c.dkim.verify_policy) {
        if (!out.empty()) out += ' ';
        out += result + "=" +
               (action == ag::Config::Dkim::Action::reject     ? "reject"
                : action == ag::Config::Dkim::Action::tempfail ? "tempfail"
                                                               : "accept");
    }
    return out;
}

// next-queue and dkim-next-queue: the programs authguard-queue and
// authguard-dkim pass each message on to. A value someone wrote is meant to
// be used (an error when it cannot run); a default matters only where that
// stage is installed (a warning).
// Why `path` cannot be run, or "".
std::string program_problem(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::strerror(errno);
    if (!S_ISREG(st.st_mode)) return "not a file";
    if (!(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH))) return "not executable";
    return "";
}

void check_queue_program(const std::string& key, const std::string& path, bool is_default,
                         const std::string& consequence, Findings& f) {
    std::string problem = program_problem(path);
    if (problem.empty()) return;
    std::string text = key + " " + path + ": " + problem + " (" + consequence + ")";
    if (is_default)
        f.warnings.push_back(text + "; set " + key + " to qmail-queue's path if it is elsewhere");
    else
        f.errors.push_back(text);
}

void check_next_queue(const ag::Config& c, Findings& f) {
    const ag::Config defaults;
    check_queue_program("next-queue", c.next_queue, c.next_queue == defaults.next_queue,
                        "authguard-queue and authguard-spp could not queue a message: 451", f);
    // The same path needs saying once.
    if (c.dkim.next_queue != c.next_queue)
        check_queue_program("dkim-next-queue", c.dkim.next_queue,
                            c.dkim.next_queue == defaults.dkim.next_queue,
                            "authguard-dkim could not queue a message unless DKIMQUEUE names "
                            "another program: 451",
                            f);
}

// The programs that tell the admin of a lock: a hook that cannot start
// one logs "cannot start" at the lock, when it is too late to notice.
void check_notify_programs(const ag::Config& c, Findings& f) {
    if (!c.notify_mail.empty())
        if (auto problem = program_problem(c.mail_program); !problem.empty())
            f.warnings.push_back("mail-program " + c.mail_program + ": " + problem +
                                 " (locks and alerts would not be mailed to " + c.notify_mail +
                                 "; on a host without qmail, set it to /usr/sbin/sendmail)");
    if (!c.notify_command.empty())
        if (auto problem = program_problem(c.notify_command.front()); !problem.empty())
            f.warnings.push_back("notify-command " + c.notify_command.front() + ": " + problem +
                                 " (locks and alerts would not reach it)");
}

// The store: reached and authenticated (Redis: connect, AUTH, SELECT,
// TIME), or the LMDB database opened (never created here).
void check_store(Context& ctx, const ag::Config& c, Findings& f) {
    try {
        if (c.store.kind == ag::StoreConfig::Kind::redis) {
            ctx.store().now();
            return;
        }
        std::error_code ec;
        if (!std::filesystem::exists(std::filesystem::path(c.store.lmdb_path) / "data.mdb", ec))
            return; // nothing to open yet (check_state_dir says whether it can be made)
        ctx.store().stats();
    } catch (const ag::StoreError& e) {
        f.errors.push_back(std::string("the store cannot be used: ") + e.what());
        f.store_error = true;
    }
}

// The state directory (the LMDB store, the last valid control files) must
// be writable by the user the hooks run as, or they fail open.
void check_state_dir(const ag::Config& c, Findings& f) {
    const std::string user = ag::hooks_user();
    errno = 0;
    const passwd* pw = ::getpwnam(user.c_str());
    const std::filesystem::path state = ag::default_lmdb_path(c.control_dir);
    const bool lmdb = c.store.kind == ag::StoreConfig::Kind::lmdb;
    if (!pw) {
        // Whoever the hooks run as, a store directory that is not there
        // leaves them to create it, which they cannot under a root-owned
        // /var/qmail: every login would go through unguarded.
        std::error_code ec;
        if (lmdb && !std::filesystem::is_directory(c.store.lmdb_path, ec))
            f.errors.push_back(c.store.lmdb_path + " (the store) does not exist: create it owned by the "
                               "user qmail-smtpd runs as (install -d -o USER -m 750 " +
                               c.store.lmdb_path + "; make install does), and set AUTHGUARD_USER "
                               "to that user for authguardctl");
        f.warnings.push_back("there is no user '" + user +
                             "' (AUTHGUARD_USER, default vpopmail): cannot check that the state "
                             "directory is writable by the user qmail-smtpd runs as; set "
                             "AUTHGUARD_USER to that user");
        return;
    }
    auto check_dir = [&](const std::filesystem::path& dir, bool needed, const std::string& what) {
        std::error_code ec;
        std::string problem;
        if (std::filesystem::is_directory(dir, ec)) {
            if (!writable_by(dir, *pw, true))
                problem = dir.string() + " (" + what + ") is not writable by " + user;
            for (const char* name : {"data.mdb", "lock.mdb", "writer.lock"})
                if (problem.empty() && std::filesystem::exists(dir / name, ec) &&
                    !writable_by(dir / name, *pw, false))
                    problem = (dir / name).string() + " (" + what + ") is not writable by " + user;
        } else if (!writable_by(dir.parent_path(), *pw, true)) {
            problem = dir.string() + " (" + what + ") does not exist, and " + user +
                      " cannot create it (install -d -o " + user + " -m 750 " + dir.string() + ")";
        }
        if (problem.empty()) return;
        if (needed)
            f.errors.push_back(problem + ": every login would go through unguarded (fail-open)");
        else
            f.warnings.push_back(problem + ": the hooks cannot keep the last valid control files");
    };
    if (lmdb) check_dir(c.store.lmdb_path, true, "the store");
    if (!lmdb || std::filesystem::path(c.store.lmdb_path) != state)
        check_dir(state, false, "the state directory");
}

} // namespace

int cmd_check_config(Context& ctx) {
    std::error_code ec;
    bool have_dir = std::filesystem::is_directory(ctx.control_dir, ec);
    const ag::Config* loaded = nullptr;
    try {
        loaded = &ctx.config();
    } catch (const ag::ConfigError& e) {
        if (!have_dir) throw;
        // The hooks go on meanwhile: say on what.
        ag::LoadedConfig hooks = ag::load_config_or_last_valid(ctx.control_dir, false);
        std::string meanwhile =
            hooks.source == ag::LoadedConfig::Source::last_valid
                ? "meanwhile the hooks run on the last valid configuration (saved " +
                      utc(hooks.saved) + ", " + ag::last_valid_path(ctx.control_dir).string() +
                      ") and log this error with every decision"
                : "meanwhile the hooks run on the defaults (no valid configuration was saved in " +
                      ag::last_valid_path(ctx.control_dir).string() +
                      ") and log this error with every decision";
        if (ctx.json) {
            Json j;
            j.begin_object().key("ok").value(false).key("error").value(std::string(e.what()));
            j.key("hooks_use")
                .value(hooks.source == ag::LoadedConfig::Source::last_valid ? "last_valid"
                                                                            : "defaults");
            j.time("last_valid_saved", hooks.saved);
            j.end_object();
            print_json(j);
        }
        std::cerr << "authguardctl: " << esc(e.what()) << "\n"
                  << "authguardctl: " << esc(meanwhile) << "\n";
        return exit_config;
    }
    const ag::Config& c = *loaded;

    Findings findings;
    check_next_queue(c, findings);
    check_notify_programs(c, findings);
    check_state_dir(c, findings);
    check_store(ctx, c, findings);

    std::vector<std::string> allow_networks;
    for (auto& n : c.allow_networks)
        allow_networks.push_back(ag::network_key(n.base, n.prefix));
    const char* on_failure =
        c.on_store_failure == ag::Config::StoreFailure::allow ? "allow" : "tempfail";
    const char* clock = c.clock_from_store ? "store" : "local";
    const char* rate_action =
        c.rate_action == ag::Config::RateAction::tempfail ? "tempfail" : "reject";
    // Without providers a phone's carrier is hundreds of /16s, each new.
    std::string asn_warning;
    if (c.asn_db.empty())
        asn_warning =
            "no asn-db: wide networks are /" + std::to_string(c.ipv4_wide_prefix) + " and /" +
            std::to_string(c.ipv6_wide_prefix) +
            " blocks, and phones on large carriers (which span hundreds of /16s) may be "
            "locked; build a table with 'authguardctl asn-db build' (authguard(5), asn-db)";
    else if (!c.asn_db_problem.empty())
        asn_warning = c.asn_db_problem; // on stderr already (Context::config)
    if (c.asn_db.empty()) std::cerr << "authguardctl: warning: " << esc(asn_warning) << "\n";
    for (auto& w : findings.warnings)
        std::cerr << "authguardctl: warning: " << esc(w) << "\n";
    for (auto& e : findings.errors)
        std::cerr << "authguardctl: error: " << esc(e) << "\n";
    std::string asn_text = "none (prefixes)";
    if (c.asn_table) {
        auto info = c.asn_table->info();
        asn_text = esc(c.asn_db) + " (" + info.format;
        if (info.built > 0) asn_text += ", built " + utc(info.built);
        asn_text += ")";
    } else if (!c.asn_db.empty()) {
        asn_text = esc(c.asn_db) + " (not usable: prefixes counted)";
    }
    // The copy the hooks fall back on should the files stop parsing.
    const std::filesystem::path copy = ag::last_valid_path(c.control_dir);
    struct stat copy_st {};
    std::int64_t copy_saved = ::stat(copy.c_str(), &copy_st) == 0 ? copy_st.st_mtime : 0;
    const bool ok = findings.errors.empty();
    const int code = ok                                                    ? exit_ok
                     : findings.store_error && findings.errors.size() == 1 ? exit_store
                                                                           : exit_config;

    if (ctx.json) {
        Json j;
        j.begin_object().key("ok").value(ok);
        j.key("errors").begin_array();
        for (auto& e : findings.errors)
            j.value(e);
        j.end_array().key("warnings").begin_array();
        for (auto& w : findings.warnings)
            j.value(w);
        j.end_array();
        j.key("control_dir").value(c.control_dir.string());
        store_json(j, c);
        j.key("redis").value(c.store.redis).key("redis_db").value(c.store.redis_db);
        j.key("redis_password_set").value(!c.store.redis_password.empty());
        j.key("dovecot_policy_secret_set").value(!c.policyd.dovecot_secret.empty());
        j.key("key_prefix").value(c.store.key_prefix);
        j.key("connect_timeout_ms").value(c.store.connect_timeout_ms);
        j.key("command_timeout_ms").value(c.store.command_timeout_ms);
        j.key("on_store_failure").value(on_failure).key("clock").value(clock);
        j.key("window_short").value(c.window_short).key("window_long").value(c.window_long);
        j.key("known_period").value(c.known_period).key("lock_expiry").value(c.lock_expiry);
        j.key("lock_retention").value(c.lock_retention);
        j.key("ipv4_net_prefix").value(c.ipv4_net_prefix);
        j.key("ipv4_wide_prefix").value(c.ipv4_wide_prefix);
        j.key("ipv6_net_prefix").value(c.ipv6_net_prefix);
        j.key("ipv6_wide_prefix").value(c.ipv6_wide_prefix);
        j.key("asn_db").value(c.asn_db).key("asn_db_in_use").value(c.asn_table != nullptr);
        j.key("asn_db_warning").value(asn_warning);
        j.key("alert_only").value(c.alert_only);
        j.key("lowercase_users").value(c.lowercase_users);
        j.key("max_user_length").value(static_cast<std::int64_t>(c.max_user_length));
        j.key("max_entries").value(c.max_entries);
        j.key("fingerprints").value(!c.fingerprint_secret.empty());
        j.key("fingerprint_bits").value(c.fingerprint_bits);
        j.key("notify_command").begin_array();
        for (auto& a : c.notify_command)
            j.value(a);
        j.end_array();
        j.key("notify_mail").value(c.notify_mail).key("mail_program").value(c.mail_program);
        j.key("log_file").value(c.log_file).key("follow_state").value(c.follow_state);
        j.key("next_queue").value(c.next_queue).key("rate_limit_action").value(rate_action);
        j.key("session_ttl").value(c.session_ttl).key("trust_auth_env").value(c.trust_auth_env);
        j.key("dkim_sign").value(c.dkim.sign).key("dkim_verify").value(c.dkim.verify);
        j.key("dkim_authserv_id").value(c.dkim.authserv_id);
        j.key("dkim_next_queue").value(c.dkim.next_queue);
        j.key("dkim_spool_dir").value(c.dkim.spool_dir);
        j.key("dkim_on_error").value(c.dkim.tempfail_on_error ? "tempfail" : "accept");
        j.key("dkim_canonicalization").value(dkim_canonicalization(c));
        j.key("dkim_verify_policy").value(dkim_policy_text(c));
        j.key("dkim_dns_timeout").value(c.dkim.dns_timeout);
        j.key("hooks_user").value(ag::hooks_user());
        j.key("last_valid_path").value(copy.string());
        j.time("last_valid_saved", copy_saved);
        j.key("allow_networks").begin_array();
        for (auto& n : allow_networks)
            j.value(n);
        j.end_array();
        j.key("allow_users").begin_array();
        for (auto& u : c.allow_users)
            j.value(u);
        j.end_array();
        j.key("thresholds");
        thresholds_json(j, c.defaults);
        j.key("user_thresholds").begin_object();
        for (auto& [u, t] : c.user_thresholds) {
            j.key(u);
            thresholds_json(j, t);
        }
        j.end_object().key("domain_thresholds").begin_object();
        for (auto& [d, t] : c.domain_thresholds) {
            j.key(d);
            thresholds_json(j, t);
        }
        j.end_object().end_object();
        print_json(j);
        return code;
    }

    auto words = [](const std::vector<std::string>& list) {
        std::string out;
        for (auto& w : list)
            out += (out.empty() ? "" : " ") + esc(w);
        return out.empty() ? std::string("none") : out;
    };
    auto yes_no = [](bool b) { return std::string(b ? "yes" : "no"); };
    std::cout << (ok ? std::string("ok")
                     : "not ok: " + std::to_string(findings.errors.size()) + " error(s), on stderr")
              << "\n";
    Table table({"control directory", esc(c.control_dir.string())}, {});
    table.row({"store", store_text(c) + (c.store.kind == ag::StoreConfig::Kind::redis
                                             ? std::string(", password ") +
                                                   (c.store.redis_password.empty() ? "none" : "set")
                                             : std::string())});
    table.row({"timeouts", "connect " + std::to_string(c.store.connect_timeout_ms) +
                               "ms, command " + std::to_string(c.store.command_timeout_ms) + "ms"});
    table.row({"on store failure", on_failure});
    table.row({"clock", clock});
    table.row({"windows", "short " + duration_text(c.window_short) + ", long " +
                              duration_text(c.window_long) + ", known period " +
                              duration_text(c.known_period)});
    table.row({"lock expiry", c.lock_expiry ? duration_text(c.lock_expiry) : "never"});
    table.row({"lock retention", duration_text(c.lock_retention)});
    table.row({"alert only", c.alert_only ? std::string("yes (a lock is only logged and notified)")
                                          : std::string("no")});
    table.row({"networks", "IPv4 /" + std::to_string(c.ipv4_net_prefix) + " (wide /" +
                               std::to_string(c.ipv4_wide_prefix) + "), IPv6 /" +
                               std::to_string(c.ipv6_net_prefix) + " (wide /" +
                               std::to_string(c.ipv6_wide_prefix) + ")"});
    table.row({"providers", asn_text});
    table.row({"user names", std::string(c.lowercase_users ? "lower-cased" : "kept as given") +
                                 ", at most " + std::to_string(c.max_user_length) + " bytes"});
    table.row({"max entries", std::to_string(c.max_entries) + " per user"});
    table.row({"fingerprints", c.fingerprint_secret.empty()
                                   ? std::string("off")
                                   : "on, " + std::to_string(c.fingerprint_bits) + " bits"});
    table.row({"notify command", words(c.notify_command)});
    table.row({"notify mail", (c.notify_mail.empty() ? std::string("none") : esc(c.notify_mail)) +
                                  " (mail program " + esc(c.mail_program) + ")"});
    table.row(
        {"log file", c.log_file.empty() ? std::string("none (syslog only)") : esc(c.log_file)});
    table.row({"follow state", esc(c.follow_state)});
    table.row({"next queue", esc(c.next_queue)});
    table.row({"rate limit action", rate_action});
    table.row({"session ttl", duration_text(c.session_ttl)});
    table.row({"trust auth env", yes_no(c.trust_auth_env)});
    table.row({"dkim", std::string("sign ") + yes_no(c.dkim.sign) + ", verify " +
                           yes_no(c.dkim.verify) + ", " + dkim_canonicalization(c) + ", on error " +
                           (c.dkim.tempfail_on_error ? "tempfail" : "accept")});
    table.row({"dkim authserv id", c.dkim.authserv_id.empty()
                                       ? std::string("control/me, else the host name")
                                       : esc(c.dkim.authserv_id)});
    table.row({"dkim policy",
               dkim_policy_text(c).empty() ? std::string("accept all") : dkim_policy_text(c)});
    table.row({"dkim next queue", esc(c.dkim.next_queue) + " (DKIMQUEUE overrides)"});
    table.row({"hooks' user", esc(ag::hooks_user()) + " (AUTHGUARD_USER)"});
    table.row({"last valid copy",
               esc(copy.string()) +
                   (copy_saved ? " (saved " + utc(copy_saved) + ")" : std::string(" (none yet)"))});
    table.row({"allow networks", words(allow_networks)});
    table.row({"allow users", words(c.allow_users)});
    table.print(std::cout);
    std::cout << "thresholds\n";
    Table thresholds({"default", thresholds_text(c.defaults)}, {});
    for (auto& [u, t] : c.user_thresholds)
        thresholds.row({esc(u), thresholds_text(t)});
    for (auto& [d, t] : c.domain_thresholds)
        thresholds.row({"@" + esc(d), thresholds_text(t)});
    thresholds.print(std::cout, "  ");
    return code;
}

} // namespace authguardctl
