// config.cpp - reading and validating the control files.
//
// Each "key = value" line is read as Boost.Program_options' config-file
// parser read it (a '#' anywhere starts a comment, then "name = value",
// both trimmed, the name one of known_keys()), without Boost: its static
// constructors and its stream-based parse, run by every hook at every
// login, cost more than the rest of the file's work (issue 17).
#include "authguard/config.hpp"

#include "authguard/asn/table.hpp"
#include "authguard/event.hpp"
#include "authguard/fd.hpp"
#include "authguard/lmdb_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <functional>
#include <sstream>

namespace authguard {

// Each threshold, by its control-file name.
const std::vector<std::pair<std::string_view, ThresholdField>>& threshold_fields() {
    static const std::vector<std::pair<std::string_view, ThresholdField>> fields{
        {"lock-new-networks-short", &Thresholds::lock_new_networks_short},
        {"lock-new-networks-long", &Thresholds::lock_new_networks_long},
        {"lock-provider-new-prefixes-short", &Thresholds::lock_provider_new_prefixes_short},
        {"alert-new-networks-long", &Thresholds::alert_new_networks_long},
        {"alert-addresses-long", &Thresholds::alert_addresses_long},
        {"alert-failing-networks-long", &Thresholds::alert_failing_networks_long},
        {"tempfail-failing-networks-short", &Thresholds::tempfail_failing_networks_short},
        {"tempfail-replay-networks", &Thresholds::tempfail_replay_networks},
        {"max-messages-short", &Thresholds::max_messages_short},
        {"max-recipients-short", &Thresholds::max_recipients_short},
        {"max-recipients-long", &Thresholds::max_recipients_long},
        {"relay-max-messages-short", &Thresholds::relay_max_messages_short},
        {"relay-max-recipients-short", &Thresholds::relay_max_recipients_short},
        {"relay-max-recipients-long", &Thresholds::relay_max_recipients_long},
    };
    return fields;
}

namespace {

std::string trim(std::string_view s) {
    auto b = s.find_first_not_of(" \t\r");
    if (b == std::string_view::npos) return {};
    auto e = s.find_last_not_of(" \t\r");
    return std::string(s.substr(b, e - b + 1));
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::optional<long long> parse_int(std::string_view text) {
    long long v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return v;
}

// "512m", "1g", "1048576" (bytes).
std::optional<long long> parse_size(std::string_view text) {
    long long unit = 1;
    if (!text.empty()) {
        switch (std::tolower(static_cast<unsigned char>(text.back()))) {
        case 'k':
            unit = 1LL << 10;
            break;
        case 'm':
            unit = 1LL << 20;
            break;
        case 'g':
            unit = 1LL << 30;
            break;
        default:
            break;
        }
        if (unit != 1) text.remove_suffix(1);
    }
    auto n = parse_int(text);
    if (!n || *n < 0 || *n > (1LL << 50) / unit) return std::nullopt;
    return *n * unit;
}

std::optional<bool> parse_bool(std::string_view text) {
    if (text == "yes" || text == "true" || text == "1" || text == "on") return true;
    if (text == "no" || text == "false" || text == "0" || text == "off") return false;
    return std::nullopt;
}

// Words separated by white space (isspace in the C locale), as `in >> w`
// splits them.
std::vector<std::string> split_words(std::string_view text) {
    constexpr std::string_view space = " \t\n\v\f\r";
    std::vector<std::string> out;
    for (auto b = text.find_first_not_of(space); b != std::string_view::npos;
         b = text.find_first_not_of(space, b)) {
        auto e = std::min(text.find_first_of(space, b), text.size());
        out.emplace_back(text.substr(b, e - b));
        b = e;
    }
    return out;
}

// Calls f(line, number) for each line as std::getline splits them: on
// '\n', no empty line after a final '\n'.
template <typename F> void for_each_line(std::string_view content, F&& f) {
    int number = 0;
    for (std::size_t pos = 0; pos < content.size();) {
        auto end = std::min(content.find('\n', pos), content.size());
        f(content.substr(pos, end - pos), ++number);
        pos = end + 1;
    }
}

// Sets one threshold from text; returns an error message or "".
std::string set_threshold(Thresholds& t, std::string_view name, std::string_view value) {
    for (auto& [key, field] : threshold_fields()) {
        if (key != name) continue;
        // relay limits may be 0 (off); a verdict threshold of 0 would fire always
        long long lowest = name.rfind("relay-", 0) == 0 ? 0 : 1;
        auto v = parse_int(value);
        if (!v || *v < lowest || *v > 1000000)
            return "'" + std::string(name) + "' wants a whole number from " +
                   std::to_string(lowest) + " to 1000000, not '" + std::string(value) + "'";
        t.*field = static_cast<int>(*v);
        return "";
    }
    return "unknown threshold '" + std::string(name) + "'";
}

struct Line {
    int number;
    std::string value;
};

class Loader {
  public:
    Loader(Config& config, std::string file) : config_(config), file_(std::move(file)) {}

    [[noreturn]] void fail(int line, const std::string& why) const {
        throw ConfigError(file_ + ":" + std::to_string(line) + ": " + why);
    }

    void apply(const std::string& key, const Line& line) {
        const std::string& v = line.value;
        auto integer = [&](int lo, int hi) {
            auto n = parse_int(v);
            if (!n || *n < lo || *n > hi)
                fail(line.number, "'" + key + "' wants a whole number from " + std::to_string(lo) +
                                      " to " + std::to_string(hi) + ", not '" + v + "'");
            return static_cast<int>(*n);
        };
        auto duration = [&](std::int64_t lo) {
            auto d = parse_duration(v);
            if (!d || *d < lo)
                fail(line.number,
                     "'" + key + "' wants a duration such as 90s, 15m, 1h, 30d, not '" + v + "'");
            return *d;
        };
        auto boolean = [&] {
            auto b = parse_bool(v);
            if (!b) fail(line.number, "'" + key + "' wants yes or no, not '" + v + "'");
            return *b;
        };
        // One of two words, each meaning a value.
        auto either = [&](const char* first, auto first_value, const char* second,
                          decltype(first_value) second_value) {
            if (v == first) return first_value;
            if (v == second) return second_value;
            fail(line.number,
                 "'" + key + "' wants " + first + " or " + second + ", not '" + v + "'");
        };

        if (key == "store") {
            config_.store.kind =
                either("redis", StoreConfig::Kind::redis, "lmdb", StoreConfig::Kind::lmdb);
            store_named_ = true;
        } else if (key == "lmdb-path") {
            if (v.empty() || v.front() != '/')
                fail(line.number, "'lmdb-path' wants an absolute path");
            config_.store.lmdb_path = v;
        } else if (key == "lmdb-lock-timeout-ms") {
            config_.store.lmdb_lock_timeout_ms = integer(10, 60000);
        } else if (key == "lmdb-sync") {
            config_.store.lmdb_sync = either("always", StoreConfig::LmdbSync::always, "periodic",
                                             StoreConfig::LmdbSync::periodic);
        } else if (key == "lmdb-map-size") {
            auto size = parse_size(v);
            if (!size || *size < (1LL << 20) || *size > (1LL << 40))
                fail(line.number, "'lmdb-map-size' wants a size from 1m to 1024g, not '" + v + "'");
            config_.store.lmdb_map_size = *size;
        } else if (key == "sentinel") {
            config_.store.sentinels.clear();
            std::string item;
            for (std::istringstream in(v); std::getline(in, item, ',');) {
                item = trim(item);
                auto colon = item.rfind(':');
                if (colon == std::string::npos || colon == 0 || !parse_int(item.substr(colon + 1)))
                    fail(line.number,
                         "'sentinel' wants host:port,host:port,..., not '" + item + "'");
                config_.store.sentinels.push_back(item);
            }
            if (config_.store.sentinels.empty()) fail(line.number, "'sentinel' needs host:port");
            redis_named_ = true;
        } else if (key == "sentinel-master") {
            if (v.empty() || v.find_first_of(" \t") != std::string::npos)
                fail(line.number, "'sentinel-master' wants the name the sentinels monitor");
            config_.store.sentinel_master = v;
        } else if (key == "redis") {
            if (v.empty()) fail(line.number, "'redis' needs host:port or unix:/path");
            config_.store.redis = v;
            redis_named_ = true;
        } else if (key == "redis-password") {
            config_.store.redis_password = v;
        } else if (key == "redis-db") {
            config_.store.redis_db = integer(0, 1000000);
        } else if (key == "key-prefix") {
            // Braces would break the per-user hash tag; glob characters the
            // SCAN patterns of the admin tool.
            if (v.find_first_of("{}*?[]\\ ") != std::string::npos)
                fail(line.number, "'key-prefix' may not contain { } * ? [ ] \\ or spaces");
            config_.store.key_prefix = v;
        } else if (key == "connect-timeout-ms") {
            config_.store.connect_timeout_ms = integer(1, 10000);
        } else if (key == "command-timeout-ms") {
            config_.store.command_timeout_ms = integer(1, 10000);
        } else if (key == "on-store-failure") {
            if (v == "allow")
                config_.on_store_failure = Config::StoreFailure::allow;
            else if (v == "tempfail")
                config_.on_store_failure = Config::StoreFailure::tempfail;
            else
                fail(line.number, "'on-store-failure' wants allow or tempfail, not '" + v + "'");
        } else if (key == "clock") {
            if (v == "store")
                config_.clock_from_store = true;
            else if (v == "local")
                config_.clock_from_store = false;
            else
                fail(line.number, "'clock' wants store or local, not '" + v + "'");
        } else if (key == "window-short") {
            config_.window_short = duration(60);
        } else if (key == "window-long") {
            config_.window_long = duration(60);
        } else if (key == "known-period") {
            config_.known_period = duration(3600);
        } else if (key == "lock-expiry") {
            config_.lock_expiry = v == "never" ? 0 : duration(60);
        } else if (key == "lock-retention") {
            config_.lock_retention = duration(86400);
        } else if (key == "ipv4-net-prefix") {
            config_.ipv4_net_prefix = integer(8, 32);
        } else if (key == "ipv4-wide-prefix") {
            config_.ipv4_wide_prefix = integer(8, 32);
        } else if (key == "ipv6-net-prefix") {
            config_.ipv6_net_prefix = integer(16, 128);
        } else if (key == "ipv6-wide-prefix") {
            config_.ipv6_wide_prefix = integer(16, 128);
        } else if (key == "asn-db") {
            // Empty: none (the prefixes are counted), so that emptying the
            // value switches the table off rather than refusing logins.
            config_.asn_db = v;
        } else if (key == "alert-only") {
            config_.alert_only = boolean();
        } else if (key == "lowercase-users") {
            config_.lowercase_users = boolean();
        } else if (key == "max-user-length") {
            config_.max_user_length = static_cast<std::size_t>(integer(8, 1024));
        } else if (key == "max-entries") {
            config_.max_entries = integer(16, 1000);
        } else if (key == "fingerprint-secret") {
            if (v.size() < 16)
                fail(line.number, "'fingerprint-secret' must be at least 16 characters");
            config_.fingerprint_secret = v;
        } else if (key == "fingerprint-bits") {
            config_.fingerprint_bits = integer(4, 16);
        } else if (key == "notify-command") {
            config_.notify_command = split_words(v);
            if (config_.notify_command.empty() || config_.notify_command[0].front() != '/')
                fail(line.number, "'notify-command' wants an absolute path and arguments");
        } else if (key == "notify-mail") {
            if (v.find_first_of(" \t\n<>") != std::string::npos)
                fail(line.number, "'notify-mail' wants one address, not '" + v + "'");
            config_.notify_mail = v;
        } else if (key == "mail-program") {
            if (v.empty() || v.front() != '/')
                fail(line.number, "'mail-program' wants an absolute path");
            config_.mail_program = v;
        } else if (key == "log-file") {
            config_.log_file = v;
        } else if (key == "next-queue") {
            if (v.empty() || v.front() != '/')
                fail(line.number, "'next-queue' wants an absolute path");
            config_.next_queue = v;
        } else if (key == "dkim-sign") {
            config_.dkim.sign = boolean();
        } else if (key == "dkim-verify") {
            config_.dkim.verify = boolean();
        } else if (key == "dkim-authserv-id") {
            // RFC 8601 §2.2: a value (token or quoted string); a host name here.
            if (v.empty() || v.find_first_of(" \t;()\"\\") != std::string::npos)
                fail(line.number, "'dkim-authserv-id' wants a host name, not '" + v + "'");
            config_.dkim.authserv_id = v;
        } else if (key == "dovecot-policy-secret") {
            if (v.find(':') == std::string::npos || v.find_first_of(" \t\r\n") != std::string::npos)
                fail(line.number, "'dovecot-policy-secret' wants USER:PASSWORD (no spaces), as in "
                                  "Dovecot's auth_policy_server_api_header");
            config_.policyd.dovecot_secret = v;
        } else if (key == "dkim-next-queue") {
            if (v.empty() || v.front() != '/')
                fail(line.number, "'dkim-next-queue' wants an absolute path");
            config_.dkim.next_queue = v;
        } else if (key == "dkim-spool-dir") {
            if (v.empty() || v.front() != '/')
                fail(line.number, "'dkim-spool-dir' wants an absolute path");
            config_.dkim.spool_dir = v;
        } else if (key == "dkim-on-error") {
            if (v == "tempfail")
                config_.dkim.tempfail_on_error = true;
            else if (v == "accept")
                config_.dkim.tempfail_on_error = false;
            else
                fail(line.number, "'dkim-on-error' wants accept or tempfail, not '" + v + "'");
        } else if (key == "dkim-canonicalization") {
            auto slash = v.find('/');
            std::string h = v.substr(0, slash),
                        b = slash == std::string::npos ? h : v.substr(slash + 1);
            auto known = [](const std::string& c) { return c == "relaxed" || c == "simple"; };
            if (!known(h) || !known(b))
                fail(line.number, "'dkim-canonicalization' wants relaxed/relaxed, relaxed/simple, "
                                  "simple/relaxed or simple/simple, not '" +
                                      v + "'");
            config_.dkim.simple_header = h == "simple";
            config_.dkim.simple_body = b == "simple";
        } else if (key == "dkim-verify-policy") {
            config_.dkim.verify_policy.clear();
            for (const std::string& word : split_words(v)) {
                auto eq = word.find('=');
                std::string result = word.substr(0, eq);
                std::string action = eq == std::string::npos ? "" : word.substr(eq + 1);
                static const char* results[] = {"fail", "permerror", "temperror",
                                                "none", "neutral",   "policy"};
                bool known =
                    std::find(std::begin(results), std::end(results), result) != std::end(results);
                Config::Dkim::Action a = Config::Dkim::Action::accept;
                if (action == "reject")
                    a = Config::Dkim::Action::reject;
                else if (action == "tempfail")
                    a = Config::Dkim::Action::tempfail;
                else if (action != "accept")
                    known = false;
                if (!known)
                    fail(line.number, "'dkim-verify-policy' wants RESULT=ACTION words (RESULT: "
                                      "fail, permerror, temperror, none, neutral, policy; "
                                      "ACTION: accept, tempfail, reject), not '" +
                                          word + "'");
                config_.dkim.verify_policy[result] = a;
            }
        } else if (key == "dkim-dns-timeout") {
            config_.dkim.dns_timeout = integer(1, 60);
        } else if (key == "rate-limit-action") {
            if (v == "tempfail")
                config_.rate_action = Config::RateAction::tempfail;
            else if (v == "reject")
                config_.rate_action = Config::RateAction::reject;
            else
                fail(line.number, "'rate-limit-action' wants tempfail or reject, not '" + v + "'");
        } else if (key == "session-ttl") {
            config_.session_ttl = duration(60);
        } else if (key == "trust-auth-env") {
            config_.trust_auth_env = boolean();
        } else if (key == "follow-state") {
            // A relative path would depend on where the follower was started.
            if (v.empty() || v.front() != '/' || v.back() == '/')
                fail(line.number,
                     "'follow-state' wants the absolute path of a file, not '" + v + "'");
            config_.follow_state = v;
        } else if (key == "override") {
            apply_override(line);
        } else {
            std::string err = set_threshold(config_.defaults, key, v);
            if (!err.empty()) fail(line.number, err);
        }
    }

    // "override = alice@example.com lock-new-networks-long=20 ..." or "@example.com ..."
    void apply_override(const Line& line) {
        auto words = split_words(line.value);
        if (words.size() < 2)
            fail(line.number, "'override' wants a user or @domain and name=value pairs");
        override_lines_.push_back({line.number, line.value});
    }

    // Overrides start from the final defaults, so their order in the file
    // does not matter.
    void finish_overrides() {
        for (auto& line : override_lines_) {
            auto words = split_words(line.value);
            std::string who = config_.lowercase_users ? lower(words[0]) : words[0];
            bool domain = who.front() == '@';
            auto& map = domain ? config_.domain_thresholds : config_.user_thresholds;
            auto name = domain ? who.substr(1) : who;
            if (name.empty()) fail(line.number, "'override' names an empty user or domain");
            Thresholds t = map.count(name) ? map[name] : config_.defaults;
            for (std::size_t i = 1; i < words.size(); ++i) {
                auto eq = words[i].find('=');
                if (eq == std::string::npos)
                    fail(line.number, "'override' wants name=value, not '" + words[i] + "'");
                auto err = set_threshold(t, words[i].substr(0, eq), words[i].substr(eq + 1));
                if (!err.empty()) fail(line.number, err);
            }
            map[name] = t;
        }
    }

    // Without "store": Redis when it is named, else the embedded store.
    void finish_store() {
        if (!store_named_)
            config_.store.kind = redis_named_ ? StoreConfig::Kind::redis : StoreConfig::Kind::lmdb;
        if (!config_.store.sentinels.empty() && config_.store.sentinel_master.empty())
            throw ConfigError(file_ + ": 'sentinel' needs 'sentinel-master' (the monitored name)");
    }

    void check_consistency() const {
        if (config_.window_short >= config_.window_long)
            throw ConfigError(file_ + ": window-short must be shorter than window-long");
        if (config_.known_period < config_.window_long)
            throw ConfigError(file_ + ": known-period must be at least window-long");
    }

  private:
    Config& config_;
    std::string file_;
    std::vector<Line> override_lines_;
    bool store_named_ = false, redis_named_ = false;
};

// Every key control/authguard may hold, sorted for binary_search.
std::vector<std::string_view> known_keys() {
    std::vector<std::string_view> keys;
    auto add = [&](std::string_view name) { keys.push_back(name); };
    for (const char* k : {"store",
                          "lmdb-path",
                          "lmdb-map-size",
                          "lmdb-lock-timeout-ms",
                          "lmdb-sync",
                          "sentinel",
                          "sentinel-master",
                          "redis",
                          "redis-password",
                          "redis-db",
                          "key-prefix",
                          "connect-timeout-ms",
                          "command-timeout-ms",
                          "on-store-failure",
                          "clock",
                          "window-short",
                          "window-long",
                          "known-period",
                          "lock-expiry",
                          "lock-retention",
                          "ipv4-net-prefix",
                          "ipv4-wide-prefix",
                          "ipv6-net-prefix",
                          "ipv6-wide-prefix",
                          "asn-db",
                          "lowercase-users",
                          "alert-only",
                          "max-user-length",
                          "max-entries",
                          "fingerprint-secret",
                          "fingerprint-bits",
                          "notify-command",
                          "notify-mail",
                          "mail-program",
                          "log-file",
                          "override",
                          "next-queue",
                          "dkim-sign",
                          "dkim-verify",
                          "dkim-authserv-id",
                          "dovecot-policy-secret",
                          "dkim-next-queue",
                          "dkim-spool-dir",
                          "dkim-on-error",
                          "dkim-canonicalization",
                          "dkim-verify-policy",
                          "dkim-dns-timeout",
                          "rate-limit-action",
                          "session-ttl",
                          "trust-auth-env",
                          "follow-state"})
        add(k);
    for (auto& [k, field] : threshold_fields())
        add(k);
    std::sort(keys.begin(), keys.end());
    return keys;
}

// Boost 1.74's trim_ws.
std::string_view trim_ws(std::string_view s) {
    auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// control/authguard's text; `path` names it in errors. With check_mode,
// a secret in a file others may read is an error (not for the saved copy,
// which is 0600 whatever the file's mode was).
void load_main_text(Config& config, const std::string& content, const std::filesystem::path& path,
                    bool check_mode) {
    Loader loader(config, path.string());
    static const std::vector<std::string_view> keys = known_keys();
    bool holds_secret = false;
    int secret_line = 0;
    for_each_line(content, [&](std::string_view text, int number) {
        std::string t = trim(text);
        if (t.empty() || t.front() == '#') return;
        if (t.front() == '[') loader.fail(number, "sections are not used in this file");
        if (t.find('=') == std::string::npos) loader.fail(number, "expected 'key = value'");
        // What Boost's parser did with the line: a '#' anywhere starts a
        // comment; a line left without '=' cannot be read.
        std::string_view s = trim_ws(std::string_view(t).substr(0, t.find('#')));
        if (s.empty()) return;
        auto eq = s.find('=');
        std::string_view name = eq == std::string_view::npos ? s : trim_ws(s.substr(0, eq));
        if (eq == std::string_view::npos || !std::binary_search(keys.begin(), keys.end(), name)) {
            // The key as written before any comment, as the errors always named it.
            std::string key = trim(std::string_view(t).substr(0, t.find('=')));
            loader.fail(number, std::string(eq != std::string_view::npos ? "unknown key '"
                                                                         : "cannot read key '") +
                                    escape_for_log(key, 64) + "'");
        }
        std::string value = trim(trim_ws(s.substr(eq + 1)));
        std::string key(name);
        loader.apply(key, Line{number, value});
        if ((key == "redis-password" || key == "fingerprint-secret" ||
             key == "dovecot-policy-secret") &&
            !value.empty()) {
            holds_secret = true;
            secret_line = number;
        }
    });
    loader.finish_overrides();
    loader.finish_store();
    loader.check_consistency();

    if (holds_secret && check_mode) {
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IROTH))
            loader.fail(secret_line, "holds a secret but is readable by others (chmod o-r " +
                                         path.string() + ")");
    }
}

// An allow line is an address or network when it could only be meant as
// one: it has a '/' or a ':', or it is digits and dots, or it starts with a
// digit and has a dot (10.0.0.1x) - and no '@'. vpopmail's users are
// "alice@example.com" or "alice": they have an '@' or a letter and no dot
// after a leading digit.
bool looks_like_network(std::string_view t) {
    if (t.find('@') != std::string_view::npos) return false;
    if (t.find_first_of("/:") != std::string_view::npos) return true;
    if (t.find_first_not_of("0123456789.") == std::string_view::npos) return true;
    return std::isdigit(static_cast<unsigned char>(t.front())) &&
           t.find('.') != std::string_view::npos;
}

void load_allow_text(Config& config, const std::string& content,
                     const std::filesystem::path& path) {
    for_each_line(content, [&](std::string_view text, int number) {
        auto where = [&] { return path.string() + ":" + std::to_string(number) + ": "; };
        auto hash = text.find('#');
        std::string t = trim(text.substr(0, hash));
        if (t.empty()) return;
        if (t.find_first_of(" \t") != std::string::npos)
            throw ConfigError(where() + "one network or user per line, not '" +
                              escape_for_log(t, 80) + "'");
        if (auto cidr = parse_cidr(t)) {
            config.allow_networks.push_back(*cidr);
        } else if (looks_like_network(t)) {
            throw ConfigError(where() + "'" + escape_for_log(t, 80) +
                              "' is not an address or network (such as 192.0.2.10, "
                              "192.0.2.0/24, 2001:db8::/32)");
        } else if (std::none_of(t.begin(), t.end(),
                                [](unsigned char c) { return std::isalpha(c) != 0; }) ||
                   std::any_of(t.begin(), t.end(),
                               [](unsigned char c) { return c < 0x20 || c == 0x7f; }) ||
                   t.front() == '@' || t.back() == '@') {
            throw ConfigError(where() + "'" + escape_for_log(t, 80) +
                              "' is not a user name (such as alice@example.com or alice)");
        } else {
            config.allow_users.push_back(config.lowercase_users ? lower(t) : t);
        }
    });
}

// A control file's text; nullopt when it does not exist (the defaults).
// Opened without waiting and read only when it is a regular file: a FIFO
// there would hold every hook in open(), a device such as /dev/zero in
// read(). The size bound keeps a runaway file from filling memory.
std::optional<std::string> read_text(const std::filesystem::path& path,
                                     off_t largest_control_file = 16 << 20) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (fd.get() < 0) {
        if (errno == ENOENT) return std::nullopt;
        throw ConfigError(path.string() + ": cannot read: " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        throw ConfigError(path.string() + ": cannot read: " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) throw ConfigError(path.string() + ": not a regular file");
    if (st.st_size > largest_control_file)
        throw ConfigError(path.string() + ": too large for a control file (" +
                          std::to_string(st.st_size) + " bytes)");
    std::string text;
    char buffer[8192];
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw ConfigError(path.string() + ": cannot read: " + std::strerror(errno));
        if (n == 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
        if (static_cast<off_t>(text.size()) > largest_control_file)
            throw ConfigError(path.string() + ": too large for a control file");
    }
    return text;
}

// A table that cannot be used never stops mail: the prefixes are counted
// instead, and the reason is kept for the caller to log.
void open_asn_table(Config& config) {
    if (config.asn_db.empty()) return;
    std::filesystem::path path = config.asn_db;
    if (path.is_relative()) path = config.control_dir / path;
    try {
        auto table = std::make_shared<const asn::Table>(asn::Table::open(path));
        std::int64_t built = table->info().built;
        // The clock the hooks use in tests and replays, else the local one.
        std::int64_t now = std::time(nullptr);
        if (const char* given = std::getenv("AUTHGUARD_NOW"); given && *given)
            now = std::strtoll(given, nullptr, 10) > 0 ? std::strtoll(given, nullptr, 10) : now;
        std::int64_t age_days = built > 0 ? (now - built) / 86400 : 0;
        if (age_days > asn_table_stale_days)
            config.asn_db_problem = path.string() + " was built " + std::to_string(age_days) +
                                    " days ago; rebuild it from a current table";
        config.asn_table = std::move(table);
    } catch (const asn::TableError& e) {
        config.asn_db_problem = std::string(e.what()) + "; counting /" +
                                std::to_string(config.ipv4_wide_prefix) + " and /" +
                                std::to_string(config.ipv6_wide_prefix) + " blocks instead";
    }
}

} // namespace

std::optional<std::string> read_control_file(const std::filesystem::path& path,
                                             std::size_t largest) {
    return read_text(path, static_cast<off_t>(largest));
}

std::optional<std::int64_t> parse_duration(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::int64_t unit = 1;
    switch (text.back()) {
    case 's':
        unit = 1;
        text.remove_suffix(1);
        break;
    case 'm':
        unit = 60;
        text.remove_suffix(1);
        break;
    case 'h':
        unit = 3600;
        text.remove_suffix(1);
        break;
    case 'd':
        unit = 86400;
        text.remove_suffix(1);
        break;
    default:
        break;
    }
    auto n = parse_int(text);
    if (!n || *n < 0 || *n > 3650LL * 86400 / unit) return std::nullopt;
    return *n * unit;
}

const Thresholds& Config::thresholds_for(const std::string& user) const {
    if (auto it = user_thresholds.find(user); it != user_thresholds.end()) return it->second;
    auto at = user.rfind('@');
    if (at != std::string::npos) {
        if (auto it = domain_thresholds.find(user.substr(at + 1)); it != domain_thresholds.end())
            return it->second;
    }
    return defaults;
}

bool Config::user_allowed(const std::string& user) const {
    return std::find(allow_users.begin(), allow_users.end(), user) != allow_users.end();
}

bool Config::address_allowed(const std::string& address_text) const {
    auto address = parse_address(address_text);
    if (!address) return false;
    return std::any_of(allow_networks.begin(), allow_networks.end(),
                       [&](const Cidr& c) { return c.contains(*address); });
}

std::string hooks_user() {
    if (const char* user = std::getenv("AUTHGUARD_USER"); user && *user) return user;
    return "vpopmail";
}

std::filesystem::path default_control_dir() {
    if (const char* dir = std::getenv("AUTHGUARD_CONTROL"); dir && *dir) return dir;
    if (const char* home = std::getenv("QMAILHOME"); home && *home)
        return std::filesystem::path(home) / "control";
    return "/var/qmail/control";
}

std::filesystem::path beside_control_dir(const std::filesystem::path& control_dir,
                                         std::string_view name) {
    std::filesystem::path dir = control_dir.lexically_normal();
    if (!dir.has_filename()) dir = dir.parent_path(); // "/var/qmail/control/"
    return dir.parent_path() / name;
}

namespace {

// The two control files' texts (a missing file reads as empty: defaults).
struct ControlTexts {
    std::string main, allow;
};

ControlTexts read_control_texts(const std::filesystem::path& control_dir) {
    return {read_text(control_dir / "authguard").value_or(""),
            read_text(control_dir / "authguard-allow").value_or("")};
}

Config parse_control_texts(const std::filesystem::path& control_dir, const ControlTexts& texts,
                           bool check_mode) {
    Config config;
    config.control_dir = control_dir;
    load_main_text(config, texts.main, control_dir / "authguard", check_mode);
    if (config.store.lmdb_path.empty())
        config.store.lmdb_path = default_lmdb_path(control_dir).string();
    if (config.follow_state.empty())
        config.follow_state = beside_control_dir(control_dir, "authguard-follow.state").string();
    load_allow_text(config, texts.allow, control_dir / "authguard-allow");
    open_asn_table(config);
    return config;
}

// The saved copy: a header, then each file as "NAME LENGTH\n" and its bytes,
// so that any byte of the files survives unchanged.
constexpr std::string_view snapshot_magic = "authguard-last-valid 1\n";

std::string snapshot_text(const ControlTexts& texts) {
    std::string out(snapshot_magic);
    for (auto [name, text] :
         {std::pair<std::string_view, const std::string*>{"authguard", &texts.main},
          {"authguard-allow", &texts.allow}}) {
        out += std::string(name) + " " + std::to_string(text->size()) + "\n";
        out += *text;
        out += "\n";
    }
    return out;
}

std::optional<ControlTexts> parse_snapshot(std::string_view s) {
    if (s.substr(0, snapshot_magic.size()) != snapshot_magic) return std::nullopt;
    s.remove_prefix(snapshot_magic.size());
    ControlTexts texts;
    for (auto [name, text] : {std::pair<std::string_view, std::string*>{"authguard", &texts.main},
                              {"authguard-allow", &texts.allow}}) {
        auto eol = s.find('\n');
        if (eol == std::string_view::npos) return std::nullopt;
        std::string_view head = s.substr(0, eol);
        if (head.substr(0, name.size() + 1) != std::string(name) + " ") return std::nullopt;
        auto size = parse_int(head.substr(name.size() + 1));
        s.remove_prefix(eol + 1);
        if (!size || *size < 0 || static_cast<std::size_t>(*size) + 1 > s.size() ||
            s[static_cast<std::size_t>(*size)] != '\n')
            return std::nullopt;
        *text = std::string(s.substr(0, static_cast<std::size_t>(*size)));
        s.remove_prefix(static_cast<std::size_t>(*size) + 1);
    }
    return texts;
}

// Writes `text` to `file` atomically (a temporary file renamed over it),
// mode 0600 (it may hold redis-password), owned by the directory's owner
// when root writes it, so that the hooks' user can read it. Any failure is
// silent: the copy is a convenience, and mail never waits for it.
void save_snapshot(const std::filesystem::path& file, const std::string& text) {
    std::filesystem::path dir = file.parent_path();
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return;
    if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0) return;
    std::filesystem::path tmp = dir / (".last-valid." + std::to_string(::getpid()));
    ::unlink(tmp.c_str()); // left by a killed process with this pid
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return;
    bool ok = true;
    for (std::size_t done = 0; ok && done < text.size();) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        ok = n > 0;
        if (ok) done += static_cast<std::size_t>(n);
    }
    if (ok && ::geteuid() == 0 && st.st_uid != 0) ok = ::fchown(fd, st.st_uid, st.st_gid) == 0;
    ok = ok && ::fsync(fd) == 0;
    ok = ::close(fd) == 0 && ok;
    if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) ::unlink(tmp.c_str());
}

std::string utc_text(std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

} // namespace

Config load_config(const std::filesystem::path& control_dir) {
    return parse_control_texts(control_dir, read_control_texts(control_dir), true);
}

Config parse_config_text(const std::filesystem::path& control_dir, const std::string& main_text,
                         const std::string& allow_text) {
    return parse_control_texts(control_dir, ControlTexts{main_text, allow_text}, false);
}

std::filesystem::path last_valid_path(const std::filesystem::path& control_dir) {
    return default_lmdb_path(control_dir) / "control.last-valid";
}

std::string LoadedConfig::message() const {
    if (problem.empty()) return "";
    if (source == Source::last_valid)
        return problem + "; using the last valid configuration (saved " + utc_text(saved) + ")";
    return problem + "; using the defaults";
}

LoadedConfig load_config_or_last_valid(const std::filesystem::path& control_dir, bool save) {
    LoadedConfig loaded;
    const std::filesystem::path copy = last_valid_path(control_dir);
    std::optional<std::string> saved;
    try {
        saved = read_text(copy);
    } catch (const ConfigError&) {
        // unreadable (another owner): as if there were none
    }
    try {
        ControlTexts texts = read_control_texts(control_dir);
        loaded.config = parse_control_texts(control_dir, texts, true);
        if (save) {
            std::string text = snapshot_text(texts);
            if (saved != text) save_snapshot(copy, text); // one small read per call otherwise
        }
        return loaded;
    } catch (const ConfigError& e) {
        loaded.problem = e.what();
    }
    // It parsed when it was saved; should it no longer (a key this version
    // does not know), the defaults, for this control directory.
    if (auto texts = saved ? parse_snapshot(*saved) : std::nullopt) {
        try {
            loaded.config = parse_control_texts(control_dir, *texts, false);
            loaded.source = LoadedConfig::Source::last_valid;
            struct stat st {};
            if (::stat(copy.c_str(), &st) == 0) loaded.saved = st.st_mtime;
            return loaded;
        } catch (const ConfigError&) {
        }
    }
    loaded.config = parse_control_texts(control_dir, {}, false);
    loaded.source = LoadedConfig::Source::defaults;
    return loaded;
}

} // namespace authguard
