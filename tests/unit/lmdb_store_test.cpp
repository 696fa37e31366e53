// lmdb_store_test.cpp - what only the embedded LMDB store has: where its
// directory is, how it refuses one it cannot write, many processes writing
// at once, a writer killed mid-transaction, expiry on its own clock, gc,
// key names longer than LMDB allows, and how the control file picks a store.
// The cases every store shares are in store_test.cpp.
#include "authguard/config.hpp"
#include "authguard/lmdb_store.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <thread>

using namespace authguard;

namespace {

Event login(const std::string& user, const std::string& address, std::int64_t time,
            Outcome outcome = Outcome::success) {
    return Event{user, address, time, outcome, "submission", std::nullopt};
}

Config lmdb_config(const testing::TempDir& dir) {
    Config c;
    c.store.kind = StoreConfig::Kind::lmdb;
    c.store.lmdb_path = (dir.path() / "db").string();
    return c;
}

// Sets $AUTHGUARD_NOW for one scope.
struct FakeNow {
    explicit FakeNow(std::int64_t t) { ::setenv("AUTHGUARD_NOW", std::to_string(t).c_str(), 1); }
    ~FakeNow() { ::unsetenv("AUTHGUARD_NOW"); }
};

std::string error_of(Store& store) {
    try {
        store.record(login("x", "192.0.2.1", 1), true);
    } catch (const StoreError& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("lmdb store: the directory beside the control directory") {
    CHECK(default_lmdb_path("/var/qmail/control") == "/var/qmail/authguard");
    CHECK(default_lmdb_path("/var/qmail/control/") == "/var/qmail/authguard");
    CHECK(default_lmdb_path("/tmp/t/control-x") == "/tmp/t/authguard");

    // A missing directory is made (its parent is writable here).
    testing::TempDir dir;
    Config c = lmdb_config(dir);
    LmdbStore store(c);
    store.record(login("alice", "192.0.2.1", 100), true);
    CHECK(std::filesystem::is_directory(dir.path() / "db"));
    CHECK(std::filesystem::exists(dir.path() / "db" / "data.mdb"));
    CHECK(store.load("alice").observations.size() == 1);
}

TEST_CASE("lmdb store: a directory it cannot use is a StoreError that says why") {
    Config c;
    c.store.lmdb_path = "/dev/null/authguard";
    LmdbStore impossible(c);
    auto why = error_of(impossible);
    CHECK(why.find("lmdb /dev/null/authguard: cannot create the directory") != std::string::npos);
    CHECK(why.find("qmail-smtpd and qmail-pop3d") != std::string::npos);

    // Not writable by the user the hook runs as (only root can switch to
    // another user here; the check runs in a child as nobody).
    if (::geteuid() != 0) {
        MESSAGE("not root: the unwritable directory case is skipped");
        return;
    }
    testing::TempDir dir;
    ::chmod(dir.path().c_str(), 0755);
    Config root_owned = lmdb_config(dir);
    std::filesystem::create_directory(root_owned.store.lmdb_path);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
        LmdbStore store(root_owned);
        std::string what = error_of(store);
        [[maybe_unused]] auto n = ::write(fds[1], what.data(), what.size());
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string what;
    char buf[512];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) what.append(buf, n);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    MESSAGE(what);
    CHECK(what.find("directory not writable by uid 65534") != std::string::npos);
}

TEST_CASE("lmdb store: many processes writing at once lose no update") {
    testing::TempDir dir;
    Config c = lmdb_config(dir);
    c.store.lmdb_lock_timeout_ms = 60000; // about lost updates, not about waiting
    constexpr int writers = 8, events = 150;
    std::vector<pid_t> pids;
    for (int w = 0; w < writers; ++w) {
        pid_t pid = ::fork();
        if (pid == 0) {
            LmdbStore store(c); // each process opens its own environment
            int failed = 0;
            for (int i = 0; i < events; ++i) {
                try {
                    // one shared address (counts) and one of its own (fields)
                    store.record(login("shared", "192.0.2.1", 1000 + i), true);
                    store.record(login("shared", "10.0." + std::to_string(w) + ".1", 1000 + i), true);
                    store.count_message("shared", 1800000000, 1, 2);
                } catch (...) {
                    ++failed;
                }
            }
            ::_exit(failed == 0 ? 0 : 1);
        }
        pids.push_back(pid);
    }
    int ok = 0;
    for (pid_t pid : pids) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    CHECK(ok == writers);
    LmdbStore store(c);
    History h = store.load("shared");
    REQUIRE(h.observations.size() == writers + 1);
    std::int64_t total = 0;
    for (auto& o : h.observations) {
        if (o.address == "192.0.2.1") CHECK(o.count == writers * events);
        total += o.count;
    }
    CHECK(total == 2 * writers * events);
    auto m = store.count_message("shared", 1800000000, 0, 0);
    CHECK(m.messages_short == writers * events);
    CHECK(m.recipients_long == 2 * writers * events);
}

TEST_CASE("lmdb store: a writer killed in the middle never blocks or damages the store") {
    testing::TempDir dir;
    Config c = lmdb_config(dir);
    {
        LmdbStore seed(c);
        seed.record(login("victim", "192.0.2.1", 2000000000), true); // seen last: never evicted
    }
    for (int round = 0; round < 5; ++round) {
        pid_t pid = ::fork();
        if (pid == 0) {
            LmdbStore store(c);
            for (int i = 0;; ++i)
                store.record(login("victim", "10." + std::to_string(i % 200) + ".0.1", 100 + i), true);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20 + 7 * round));
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        // the next writer goes on at once (LMDB's robust mutex is released)
        LmdbStore store(c);
        auto t0 = std::chrono::steady_clock::now();
        auto r = store.record(login("victim", "192.0.2.1", 2000000000), true);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
        CHECK(ms < 1000);
        bool found = false;
        for (auto& o : r.history.observations)
            if (o.address == "192.0.2.1") found = o.count == round + 2;
        CHECK(found);
        CHECK(store.load("victim").observations.size() <= 100);
    }
}

namespace {
int alarms_seen = 0;
void count_alarm(int) { ++alarms_seen; }
} // namespace

TEST_CASE("lmdb store: a writer that holds the database past lmdb-lock-timeout-ms is a StoreError") {
    testing::TempDir dir;
    Config c = lmdb_config(dir);
    c.store.lmdb_lock_timeout_ms = 200;
    LmdbStore store(c);
    store.record(login("carol", "192.0.2.1", 100), true); // creates writer.lock

    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    pid_t holder = ::fork();
    if (holder == 0) { // another writer that stops in the middle: holds the turn
        int fd = ::open((dir.path() / "db" / "writer.lock").c_str(), O_RDWR);
        struct flock whole {};
        whole.l_type = F_WRLCK;
        whole.l_whence = SEEK_SET;
        bool held = fd >= 0 && ::fcntl(fd, F_OFD_SETLKW, &whole) == 0;
        [[maybe_unused]] auto n = ::write(ready[1], held ? "y" : "n", 1);
        ::pause();
        ::_exit(0);
    }
    char answer = 0;
    REQUIRE(::read(ready[0], &answer, 1) == 1);
    REQUIRE(answer == 'y');

    // the caller's own SIGALRM handler and timer are left as they were
    struct sigaction mine {};
    mine.sa_handler = count_alarm;
    ::sigemptyset(&mine.sa_mask);
    ::sigaction(SIGALRM, &mine, nullptr);
    struct itimerval later {};
    later.it_value.tv_sec = 30;
    ::setitimer(ITIMER_REAL, &later, nullptr);

    auto t0 = std::chrono::steady_clock::now();
    std::string what;
    try {
        store.record(login("carol", "192.0.2.1", 101), true);
    } catch (const StoreError& e) {
        what = e.what();
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    CHECK(what.find("another writer has held the database for over 200 ms") != std::string::npos);
    CHECK(ms >= 190);
    CHECK(ms < 1500);
    struct sigaction after {};
    ::sigaction(SIGALRM, nullptr, &after);
    CHECK((after.sa_handler == count_alarm));
    struct itimerval left {};
    ::getitimer(ITIMER_REAL, &left);
    CHECK(left.it_value.tv_sec >= 28);
    CHECK(alarms_seen == 0);
    struct itimerval off {};
    ::setitimer(ITIMER_REAL, &off, nullptr);
    ::signal(SIGALRM, SIG_DFL);

    ::kill(holder, SIGKILL); // its lock goes with it
    ::waitpid(holder, nullptr, 0);
    ::close(ready[0]);
    ::close(ready[1]);
    auto r = store.record(login("carol", "192.0.2.1", 102), true);
    REQUIRE(r.history.observations.size() == 1);
    CHECK(r.history.observations[0].count == 2); // the refused write was not counted
}

TEST_CASE("lmdb store: keys expire on the store's clock, gc removes them") {
    testing::TempDir dir;
    Config c = lmdb_config(dir);
    LmdbStore store(c);
    const std::int64_t t = static_cast<std::int64_t>(std::time(nullptr));
    RecordOptions bind;
    bind.bind_session = "mx1:1:2:192.0.2.1";
    bind.session_ttl = 600;
    store.record(login("old", "192.0.2.1", t), bind);
    store.set_lock("old", Lock{t, 0, "test", "", 0, t});
    store.count_message("old", t, 1, 1);
    store.record(login("new", "192.0.2.1", t), true);
    // The store's clock is the real one: a second may have passed since t.
    auto ttl_obs = store.ttl(store.observations_key("old"));
    auto ttl_lock = store.ttl(store.lock_key("old"));
    CHECK((ttl_obs == c.known_period || ttl_obs == c.known_period - 1));
    CHECK((ttl_lock == c.lock_retention || ttl_lock == c.lock_retention - 1));
    CHECK(store.ttl("nothing") == -2);
    CHECK(store.session_user("mx1:1:2:192.0.2.1", 600) == std::optional<std::string>("old"));
    {
        FakeNow later(t + 700); // the session binding is gone
        CHECK(!store.session_user("mx1:1:2:192.0.2.1", 600));
    }
    {
        FakeNow later(t + c.known_period - 10);
        store.record(login("new", "192.0.2.1", t + c.known_period - 10), true);
    }
    {
        FakeNow later(t + c.known_period + 1);
        // readers no longer see them; the lock outlives the observations
        CHECK(store.load("old").observations.empty());
        CHECK(store.load("old").lock.has_value());
        CHECK(store.users() == std::vector<std::string>{"new", "old"});
        // a write that touches an expired key deletes it (here the rate)
        CHECK(store.count_message("old", t + c.known_period + 1, 0, 0).messages_short == 0);
        CHECK(store.ttl(store.rate_key("old")) == -2);
        auto gc = store.gc(); // the rest: the observations of "old"
        CHECK(gc.removed == 1);
        CHECK(gc.keys == 3);
        CHECK(store.stats().users == 2);
    }
    {
        FakeNow later(t + c.lock_retention + 1);
        CHECK(store.users().empty());
        CHECK(store.gc().removed == 2);
        CHECK(store.gc().keys == 0);
    }
}

TEST_CASE("lmdb store: user names longer than an LMDB key") {
    testing::TempDir dir;
    Config c = lmdb_config(dir);
    c.max_user_length = 1024;
    LmdbStore store(c);
    std::string a(1000, 'a'), b = a;
    b.back() = 'b'; // the same first 500 bytes
    store.record(login(a, "192.0.2.1", 100), true);
    store.record(login(b, "192.0.2.2", 100), true);
    store.record(login(b, "192.0.2.2", 101), true);
    CHECK(store.set_lock(a, Lock{100, 0, "t", "", 0, 100}));
    CHECK(store.load(a).observations.at(0).address == "192.0.2.1");
    CHECK(store.load(b).observations.at(0).count == 2);
    CHECK(store.load(a).lock.has_value());
    CHECK(!store.load(b).lock.has_value());
    CHECK(store.users() == std::vector<std::string>{a, b});
    CHECK(store.stats().users == 2);
    CHECK(store.stats().locks == 1);
}

TEST_CASE("lmdb store: a full map is reported, and gc makes room") {
    testing::TempDir dir;
    Config c = lmdb_config(dir);
    c.store.lmdb_map_size = 1 << 20; // 1 MiB
    const std::int64_t t = static_cast<std::int64_t>(std::time(nullptr));
    LmdbStore store(c);
    std::string why;
    int stored = 0;
    for (int i = 0; i < 20000 && why.empty(); ++i) {
        try {
            store.record(login("user" + std::to_string(i) + "@example.com", "192.0.2.1", t), true);
            ++stored;
        } catch (const StoreError& e) {
            why = e.what();
        }
    }
    MESSAGE(stored << " users in 1 MiB; then: " << why);
    CHECK(why.find("lmdb-map-size") != std::string::npos);
    // once they expired, the next write collects them and goes on
    FakeNow later(t + c.known_period + 1);
    CHECK(store.record(login("late", "192.0.2.1", t + c.known_period + 1), true).history.observations.size() == 1);
}

// lmdb-sync = periodic must not lose what a later process reads (the page
// cache is shared), and must still sync: the first commit a second or more
// after the last sync does it and marks writer.lock's mtime.
TEST_CASE("lmdb store: lmdb-sync = periodic keeps every commit and syncs at most once a second") {
    testing::TempDir dir;
    Config c = lmdb_config(dir);
    c.store.lmdb_sync = StoreConfig::LmdbSync::periodic;
    {
        LmdbStore first(c);
        first.record(login("alice", "192.0.2.1", 100), true);
    }
    auto lock = dir.path() / "db" / "writer.lock";
    struct stat st {};
    REQUIRE(::stat(lock.c_str(), &st) == 0);
    CHECK(std::time(nullptr) - st.st_mtime <= 1); // made (or marked) just now
    // Marked two seconds ago: the next commit syncs and marks again.
    timespec old_times[2] = {{std::time(nullptr) - 2, 0}, {std::time(nullptr) - 2, 0}};
    REQUIRE(::utimensat(AT_FDCWD, lock.c_str(), old_times, 0) == 0);
    LmdbStore second(c);
    second.record(login("alice", "198.51.100.1", 101), true);
    REQUIRE(::stat(lock.c_str(), &st) == 0);
    CHECK(std::time(nullptr) - st.st_mtime <= 1);
    CHECK(second.load("alice").observations.size() == 2);
    c.store.lmdb_sync = StoreConfig::LmdbSync::always; // a process of the other kind reads it all
    LmdbStore third(c);
    CHECK(third.load("alice").observations.size() == 2);
}

// authguard-checkpw opens the store while the real checkpassword runs: a
// store that cannot be opened is the first call's StoreError, not prepare()'s.
TEST_CASE("lmdb store: prepare() opens ahead and never throws") {
    testing::TempDir dir;
    Config c = lmdb_config(dir);
    LmdbStore store(c);
    store.prepare();
    CHECK(std::filesystem::exists(dir.path() / "db" / "data.mdb"));
    store.record(login("alice", "192.0.2.1", 100), true);
    CHECK(store.load("alice").observations.size() == 1);

    Config bad;
    bad.store.lmdb_path = "/dev/null/authguard";
    LmdbStore impossible(bad);
    CHECK_NOTHROW(impossible.prepare());
    CHECK(error_of(impossible).find("cannot create the directory") != std::string::npos);
}

TEST_CASE("config: which store the control file names") {
    testing::TempDir dir;
    auto kind_of = [&](const std::string& text) {
        dir.write("authguard", text);
        return load_config(dir.path()).store.kind;
    };
    CHECK(kind_of("") == StoreConfig::Kind::lmdb);
    CHECK(kind_of("redis = unix:/run/redis.sock\n") == StoreConfig::Kind::redis);
    CHECK(kind_of("sentinel = 10.0.0.1:26379, 10.0.0.2:26379\nsentinel-master = mx\n") ==
          StoreConfig::Kind::redis);
    CHECK(kind_of("redis = 10.0.0.5:6379\nstore = lmdb\n") == StoreConfig::Kind::lmdb);
    CHECK(kind_of("store = redis\n") == StoreConfig::Kind::redis);

    dir.write("authguard", "sentinel = 10.0.0.1:26379,[::1]:26380\nsentinel-master = mx\n");
    Config s = load_config(dir.path());
    CHECK(s.store.sentinels == std::vector<std::string>{"10.0.0.1:26379", "[::1]:26380"});
    CHECK(s.store.sentinel_master == "mx");

    dir.write("authguard", "");
    CHECK(load_config(dir.path()).store.lmdb_path == default_lmdb_path(dir.path()).string());
    dir.write("authguard", "lmdb-path = /srv/ag\nlmdb-map-size = 2g\n");
    Config l = load_config(dir.path());
    CHECK(l.store.lmdb_path == "/srv/ag");
    CHECK(l.store.lmdb_map_size == 2LL << 30);

    CHECK(l.store.lmdb_sync == StoreConfig::LmdbSync::always); // the safe default
    dir.write("authguard", "lmdb-sync = periodic\n");
    CHECK(load_config(dir.path()).store.lmdb_sync == StoreConfig::LmdbSync::periodic);
    dir.write("authguard", "lmdb-sync = always\n");
    CHECK(load_config(dir.path()).store.lmdb_sync == StoreConfig::LmdbSync::always);

    for (const char* bad : {"lmdb-sync = never\n", "lmdb-sync =\n"}) {
        dir.write("authguard", bad);
        CHECK_THROWS_WITH_AS(load_config(dir.path()), doctest::Contains("'lmdb-sync' wants"),
                             ConfigError);
    }
    for (const char* bad : {"store = memcached\n", "lmdb-path = relative\n", "lmdb-map-size = 10k\n",
                            "sentinel = nohost\n", "sentinel = 10.0.0.1:26379\n"}) {
        dir.write("authguard", bad);
        CHECK_THROWS_AS(load_config(dir.path()), ConfigError);
    }
}
