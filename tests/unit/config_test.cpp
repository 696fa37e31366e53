// config_test.cpp - control files: defaults, validation with file:line, overrides, allowlists.
#include "authguard/config.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>

using namespace authguard;
using authguard::testing::TempDir;

namespace {
std::string error_of(const TempDir& dir) {
    try {
        load_config(dir.path());
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}
} // namespace

TEST_CASE("no control files: documented defaults") {
    TempDir dir;
    Config c = load_config(dir.path());
    CHECK(c.store.redis == "127.0.0.1:6379");
    CHECK(c.store.connect_timeout_ms == 100);
    CHECK(c.store.command_timeout_ms == 100);
    CHECK(c.window_short == 3600);
    CHECK(c.window_long == 86400);
    CHECK(c.known_period == 30 * 86400);
    CHECK(c.on_store_failure == Config::StoreFailure::allow);
    CHECK(c.defaults == Thresholds{});
    CHECK(c.follow_state == (dir.path().parent_path() / "authguard-follow.state").string());
}

TEST_CASE("a full control file") {
    TempDir dir;
    dir.write("authguard", "# comment\n"
                           "redis = unix:/run/redis/redis.sock\n"
                           "  key-prefix = mx:  \n"
                           "window-short = 30m\n"
                           "window-long = 2d\n"
                           "lock-new-networks-long = 12\n"
                           "on-store-failure = tempfail\n"
                           "lowercase-users = no\n"
                           "notify-command = /usr/local/bin/page-admin --urgent\n"
                           "override = Alice@Example.com lock-new-networks-long=30\n"
                           "override = @webmail.example lock-new-networks-short=20\n"
                           "follow-state = /var/qmail/follow/maillog.state\n");
    dir.write("authguard-allow", "192.0.2.10   # webmail\n2001:db8::/32\n\nrelay@example.com\n");
    Config c = load_config(dir.path());
    CHECK(c.store.redis == "unix:/run/redis/redis.sock");
    CHECK(c.store.key_prefix == "mx:");
    CHECK(c.window_short == 1800);
    CHECK(c.window_long == 172800);
    CHECK(c.defaults.lock_new_networks_long == 12);
    CHECK(c.on_store_failure == Config::StoreFailure::tempfail);
    CHECK(c.notify_command.size() == 2);
    // overrides start from the file's defaults, whatever their order
    CHECK(c.thresholds_for("Alice@Example.com").lock_new_networks_long == 30);
    CHECK(c.thresholds_for("bob@webmail.example").lock_new_networks_short == 20);
    CHECK(c.thresholds_for("bob@webmail.example").lock_new_networks_long == 12);
    CHECK(c.thresholds_for("carol@example.com").lock_new_networks_long == 12);
    CHECK(c.address_allowed("192.0.2.10"));
    CHECK(!c.address_allowed("192.0.2.11"));
    CHECK(c.address_allowed("2001:db8:1::5"));
    CHECK(!c.address_allowed("unknown"));
    CHECK(c.user_allowed("relay@example.com"));
    CHECK(c.follow_state == "/var/qmail/follow/maillog.state");
}

TEST_CASE("errors name file:line and the reason") {
    TempDir dir;
    auto file = (dir.path() / "authguard").string();
    dir.write("authguard", "redis = /tmp/x\n\nno-such-key = 1\n");
    CHECK(error_of(dir).rfind(file + ":3: ", 0) == 0);
    dir.write("authguard", "window-long = forever\n");
    CHECK(error_of(dir).find(file + ":1: 'window-long' wants a duration") == 0);
    dir.write("authguard", "lock-new-networks-long = 0\n");
    CHECK(error_of(dir).find(":1:") != std::string::npos);
    dir.write("authguard", "command-timeout-ms = 100ms\n");
    CHECK(error_of(dir).find(":1:") != std::string::npos);
    dir.write("authguard", "lmdb-lock-timeout-ms = 5\n"); // below 10: no wait at all
    CHECK(error_of(dir).find(":1:") != std::string::npos);
    dir.write("authguard", "just some words\n");
    CHECK(error_of(dir).find(":1: expected 'key = value'") != std::string::npos);
    dir.write("authguard", "override = bob@example.com lock-foo=3\n");
    CHECK(error_of(dir).find("unknown threshold 'lock-foo'") != std::string::npos);
    dir.write("authguard", "window-short = 2d\n");
    CHECK(error_of(dir).find("window-short must be shorter") != std::string::npos);
    for (const char* path : {"follow.state", "/var/qmail/", ""}) {
        dir.write("authguard", std::string("\nfollow-state = ") + path + "\n");
        CHECK_MESSAGE(error_of(dir).find(file + ":2: 'follow-state' wants the absolute path") == 0,
                      path);
    }
    for (const char* prefix : {"a{b}", "g[1]:", "*", "a?", "a\\b"}) {
        dir.write("authguard", std::string("key-prefix = ") + prefix + "\n");
        CHECK_MESSAGE(!error_of(dir).empty(), prefix);
    }
}

TEST_CASE("allow file errors") {
    TempDir dir;
    dir.write("authguard-allow", "192.0.2.0/24\n10.0.0.0/99\n");
    CHECK(error_of(dir).find("authguard-allow:2: '10.0.0.0/99' is not an address or network") !=
          std::string::npos);
    dir.write("authguard-allow", "192.0.2.0/24 extra\n");
    CHECK(error_of(dir).find("authguard-allow:1:") != std::string::npos);
}

TEST_CASE("a FIFO or a device as a control file is an error, never a wait") {
    TempDir dir;
    REQUIRE(::mkfifo((dir.path() / "authguard").c_str(), 0600) == 0);
    CHECK(error_of(dir).find("authguard: not a regular file") != std::string::npos);
    std::filesystem::remove(dir.path() / "authguard");
    std::filesystem::create_symlink("/dev/zero", dir.path() / "authguard-allow");
    CHECK(error_of(dir).find("authguard-allow: not a regular file") != std::string::npos);
}

TEST_CASE("a secret in a file others can read is refused") {
    TempDir dir;
    dir.write("authguard", "redis-password = s3cret-and-long\n");
    auto path = dir.path() / "authguard";
    ::chmod(path.c_str(), 0644);
    CHECK(error_of(dir).find("readable by others") != std::string::npos);
    ::chmod(path.c_str(), 0640);
    CHECK(error_of(dir).empty());
    dir.write("authguard", "fingerprint-secret = short\n");
    CHECK(error_of(dir).find("at least 16") != std::string::npos);
}

TEST_CASE("durations") {
    CHECK(parse_duration("90") == 90);
    CHECK(parse_duration("15m") == 900);
    CHECK(parse_duration("1h") == 3600);
    CHECK(parse_duration("30d") == 30 * 86400);
    CHECK(!parse_duration(""));
    CHECK(!parse_duration("h"));
    CHECK(!parse_duration("-5m"));
    CHECK(!parse_duration("1w"));
    CHECK(!parse_duration("99999999999d"));
}

TEST_CASE("a key holding Boost's placeholders is refused at once, not looped on") {
    // Boost.Program_options 1.74's error text substitutes %canonical_option%
    // in a loop that never ends when the option's own name holds it.
    for (const char* key : {"x%canonical_option%y", "%original_token%", "a%prefix_option%b"}) {
        testing::TempDir dir;
        dir.write("authguard", std::string(key) + " = 1\n");
        try {
            load_config(dir.path());
            FAIL("accepted " << key);
        } catch (const ConfigError& e) {
            std::string what = e.what();
            CHECK(what.find(":1: unknown key '") != std::string::npos);
        }
    }
}

namespace {
// A control directory with the state directory beside it, as
// /var/qmail/control and /var/qmail/authguard.
struct Site {
    TempDir root;
    std::filesystem::path control = root.path() / "control";
    std::filesystem::path state = root.path() / "authguard";
    Site(bool with_state = true) {
        std::filesystem::create_directory(control);
        if (with_state) std::filesystem::create_directory(state);
    }
    void write(const std::string& name, const std::string& text) const {
        std::ofstream(control / name) << text;
    }
};
} // namespace

TEST_CASE("a typo in control/authguard: the hooks keep the last valid configuration") {
    Site site;
    site.write("authguard", "lock-new-networks-short = 4\nredis-db = 2\n");
    site.write("authguard-allow", "192.0.2.10\nvip@example.com\n");
    LoadedConfig good = load_config_or_last_valid(site.control);
    CHECK(good.source == LoadedConfig::Source::files);
    CHECK(good.problem.empty());
    CHECK(good.message().empty());
    REQUIRE(std::filesystem::exists(last_valid_path(site.control)));
    CHECK(last_valid_path(site.control).parent_path() == site.state);
    struct stat st {};
    REQUIRE(::stat(last_valid_path(site.control).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600); // it may hold redis-password

    site.write("authguard", "lock-new-networks-short = 4\nlock-new-networks-shrt = 6\n");
    LoadedConfig bad = load_config_or_last_valid(site.control);
    CHECK(bad.source == LoadedConfig::Source::last_valid);
    CHECK(bad.problem ==
          (site.control / "authguard").string() + ":2: unknown key 'lock-new-networks-shrt'");
    CHECK(bad.message().find(":2: unknown key 'lock-new-networks-shrt'; using the last valid "
                             "configuration (saved ") != std::string::npos);
    CHECK(bad.message().find(" UTC)") != std::string::npos);
    CHECK(bad.config.defaults.lock_new_networks_short == 4);
    CHECK(bad.config.store.redis_db == 2);
    CHECK(bad.config.user_allowed("vip@example.com"));
    CHECK(bad.config.control_dir == site.control);
    // the bad files are never saved over the good copy
    CHECK(load_config_or_last_valid(site.control).config.store.redis_db == 2);
}

TEST_CASE("a bad authguard-allow line, or a secret readable by others: the last valid copy too") {
    Site site;
    site.write("authguard", "redis-db = 3\n");
    load_config_or_last_valid(site.control);
    site.write("authguard-allow", "192.0.2.300\n");
    LoadedConfig bad = load_config_or_last_valid(site.control);
    CHECK(bad.source == LoadedConfig::Source::last_valid);
    CHECK(bad.problem.find("authguard-allow:1: ") != std::string::npos);
    CHECK(bad.config.store.redis_db == 3);
    CHECK(bad.config.allow_networks.empty());

    std::filesystem::remove(site.control / "authguard-allow");
    site.write("authguard", "redis-db = 3\nredis-password = hunter2\n");
    ::chmod((site.control / "authguard").c_str(), 0644);
    bad = load_config_or_last_valid(site.control);
    CHECK(bad.source == LoadedConfig::Source::last_valid);
    CHECK(bad.problem.find("authguard:2: holds a secret but is readable by others") !=
          std::string::npos);
    CHECK(bad.config.store.redis_password.empty());
}

TEST_CASE("a typo and no last valid copy: the defaults, for this control directory") {
    Site site(false); // no state directory: nothing is saved, silently
    site.write("authguard", "lock-new-networks-short = 4\n");
    CHECK(load_config_or_last_valid(site.control).source == LoadedConfig::Source::files);
    CHECK(!std::filesystem::exists(site.state));
    site.write("authguard", "lock-new-networks-short = 4\nx%canonical_option%y = 1\n");
    LoadedConfig bad = load_config_or_last_valid(site.control);
    CHECK(bad.source == LoadedConfig::Source::defaults);
    CHECK(bad.problem.find("authguard:2: unknown key 'x%canonical_option%y'") != std::string::npos);
    CHECK(bad.message().size() > std::string_view("; using the defaults").size());
    CHECK(bad.message().substr(bad.message().size() - 20) == "; using the defaults");
    CHECK(bad.config.defaults == Thresholds{});
    CHECK(bad.config.control_dir == site.control);
    CHECK(bad.config.store.lmdb_path == site.state.string());

    // a copy that no longer parses (garbage) is as good as none
    std::filesystem::create_directory(site.state);
    std::ofstream(last_valid_path(site.control)) << "authguard-last-valid 1\nauthguard 99\nshort\n";
    CHECK(load_config_or_last_valid(site.control).source == LoadedConfig::Source::defaults);
}

TEST_CASE("a fixed control file is saved again; an unchanged one is not rewritten") {
    Site site;
    site.write("authguard", "lock-new-networks-short = 4\n");
    load_config_or_last_valid(site.control);
    struct stat first {};
    REQUIRE(::stat(last_valid_path(site.control).c_str(), &first) == 0);
    load_config_or_last_valid(site.control);
    struct stat again {};
    REQUIRE(::stat(last_valid_path(site.control).c_str(), &again) == 0);
    CHECK(first.st_ino == again.st_ino); // not replaced: one small read per AUTH

    site.write("authguard", "lock-new-networks-short = 4\nwindow-short = soon\n");
    CHECK(load_config_or_last_valid(site.control).source == LoadedConfig::Source::last_valid);
    site.write("authguard", "lock-new-networks-short = 7\n");
    LoadedConfig fixed = load_config_or_last_valid(site.control);
    CHECK(fixed.source == LoadedConfig::Source::files);
    CHECK(fixed.config.defaults.lock_new_networks_short == 7);
    site.write("authguard", "lock-new-networks-short = 7\nwindow-short = soon\n");
    LoadedConfig bad = load_config_or_last_valid(site.control);
    CHECK(bad.source == LoadedConfig::Source::last_valid);
    CHECK(bad.config.defaults.lock_new_networks_short == 7);
    // check-config's look does not save
    site.write("authguard", "lock-new-networks-short = 9\n");
    load_config_or_last_valid(site.control, false);
    site.write("authguard", "lock-new-networks-short = 9\nwindow-short = soon\n");
    CHECK(load_config_or_last_valid(site.control).config.defaults.lock_new_networks_short == 7);
}

TEST_CASE("authguard-allow: a mistyped address is an error, not an allowed user") {
    for (const char* line : {"192.0.2.300", "10.0.0.1x", "10.0.0.0/33", "12345", "2001:db8::zz",
                             "192.0.2.1/", "1.2.3", "@example.com", "alice@", "---"}) {
        TempDir dir;
        dir.write("authguard-allow", std::string("# allowed\n\n") + line + "\n");
        std::string err = error_of(dir);
        CHECK_MESSAGE(err.find("authguard-allow:3: '") != std::string::npos, line, " -> ", err);
    }
    TempDir dir;
    dir.write("authguard-allow", "alice@example.com\nAlice\npostmaster@1and1.example\n"
                                 "192.0.2.0/24  # office\n2001:db8::/32\n198.51.100.7\n");
    Config c = load_config(dir.path());
    CHECK(c.allow_users ==
          std::vector<std::string>{"alice@example.com", "alice", "postmaster@1and1.example"});
    CHECK(c.allow_networks.size() == 3);
}
