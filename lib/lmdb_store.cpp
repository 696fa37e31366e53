// lmdb_store.cpp - the Store in an embedded LMDB database (see
// lmdb_store.hpp): lib/record.lua and lib/message.lua ported step for step
// to one LMDB write transaction each, over values that are small hashes
// with an expiry time, under the Redis store's key names.
#include "authguard/lmdb_store.hpp"

#include "authguard/config.hpp"
#include "authguard/fd.hpp"
#include "authguard/hash.hpp"

#include <lmdb.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <utility>
#include <vector>

namespace authguard {

namespace {

// --- values -----------------------------------------------------------------

// One key's value: a hash (fields in insertion order, as a small Redis hash
// keeps them) or a string, and when it expires on the store's clock.
struct Value {
    bool is_string = false;
    std::int64_t expire_at = 0; // 0: never
    std::string full_key;       // the key's name, when the LMDB key is a shortened one
    std::string text;           // a string's value
    std::vector<std::pair<std::string, std::string>> fields;

    const std::string* get(std::string_view field) const {
        for (auto& [f, v] : fields)
            if (f == field) return &v;
        return nullptr;
    }
    // HSET: an existing field keeps its place.
    void set(std::string_view field, std::string value) {
        for (auto& [f, v] : fields)
            if (f == field) {
                v = std::move(value);
                return;
            }
        fields.emplace_back(std::string(field), std::move(value));
    }
    void del(std::string_view field) {
        std::erase_if(fields, [&](const auto& fv) { return fv.first == field; });
    }
};

// Lua's tonumber() on the integers the scripts store.
std::optional<std::int64_t> to_int(std::string_view text) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return v;
}

std::int64_t to_int_or_zero(const std::string* text) {
    if (!text) return 0;
    return to_int(*text).value_or(0);
}

// HINCRBY
void incr(Value& v, std::string_view field, std::int64_t by) {
    v.set(field, std::to_string(to_int_or_zero(v.get(field)) + by));
}

void put_varint(std::string& out, std::uint64_t n) {
    while (n >= 0x80) {
        out += static_cast<char>((n & 0x7f) | 0x80);
        n >>= 7;
    }
    out += static_cast<char>(n);
}

bool get_varint(std::string_view& in, std::uint64_t& n) {
    n = 0;
    for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
        auto byte = static_cast<unsigned char>(in.front());
        in.remove_prefix(1);
        n |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
        if (!(byte & 0x80)) return true;
    }
    return false;
}

void put_bytes(std::string& out, std::string_view bytes) {
    put_varint(out, bytes.size());
    out += bytes;
}

bool get_bytes(std::string_view& in, std::string& out) {
    std::uint64_t n = 0;
    if (!get_varint(in, n) || n > in.size()) return false;
    out.assign(in.substr(0, n));
    in.remove_prefix(n);
    return true;
}

// Layout: type ('h' hash, 's' string; upper case when the full key name
// follows), expiry, [full key], then the string or the field count and the
// fields, each length-prefixed (LEB128 varints).
std::string encode(const Value& v) {
    std::string out;
    char type = v.is_string ? 's' : 'h';
    out += v.full_key.empty() ? type : static_cast<char>(type - 'a' + 'A');
    put_varint(out, static_cast<std::uint64_t>(std::max<std::int64_t>(0, v.expire_at)));
    if (!v.full_key.empty()) put_bytes(out, v.full_key);
    if (v.is_string) {
        put_bytes(out, v.text);
    } else {
        put_varint(out, v.fields.size());
        for (auto& [f, value] : v.fields) {
            put_bytes(out, f);
            put_bytes(out, value);
        }
    }
    return out;
}

// A value that cannot be read is treated as missing: the next write
// replaces it.
std::optional<Value> decode(std::string_view in) {
    if (in.empty()) return std::nullopt;
    Value v;
    char type = in.front();
    in.remove_prefix(1);
    bool has_full_key = type == 'H' || type == 'S';
    v.is_string = type == 's' || type == 'S';
    if (!v.is_string && type != 'h' && type != 'H') return std::nullopt;
    std::uint64_t expire = 0;
    if (!get_varint(in, expire)) return std::nullopt;
    v.expire_at = static_cast<std::int64_t>(expire);
    if (has_full_key && !get_bytes(in, v.full_key)) return std::nullopt;
    if (v.is_string) {
        if (!get_bytes(in, v.text)) return std::nullopt;
        return v;
    }
    std::uint64_t count = 0;
    if (!get_varint(in, count) || count > in.size()) return std::nullopt;
    v.fields.resize(count);
    for (auto& [f, value] : v.fields)
        if (!get_bytes(in, f) || !get_bytes(in, value)) return std::nullopt;
    return v;
}

bool expired(const Value& v, std::int64_t clock) { return v.expire_at != 0 && clock >= v.expire_at; }

std::string_view as_view(const MDB_val& v) {
    return {static_cast<const char*>(v.mv_data), v.mv_size};
}

MDB_val as_val(std::string_view s) {
    return MDB_val{s.size(), const_cast<char*>(s.data())};
}

// --- LMDB handles -------------------------------------------------------------

// An LMDB call failed: kept apart from StoreError so that the caller can
// retry the few codes that mean "try again" (MDB_MAP_RESIZED, MDB_MAP_FULL).
struct MdbError {
    int rc;
    const char* what;
};

void check(int rc, const char* what) {
    if (rc != MDB_SUCCESS) throw MdbError{rc, what};
}

struct EnvClose {
    void operator()(MDB_env* env) const { mdb_env_close(env); }
};

class Txn {
  public:
    Txn(MDB_env* env, bool write) {
        check(mdb_txn_begin(env, nullptr, write ? 0 : MDB_RDONLY, &txn_), "begin");
        int rc = mdb_dbi_open(txn_, nullptr, 0, &dbi_);
        if (rc != MDB_SUCCESS) {
            mdb_txn_abort(std::exchange(txn_, nullptr));
            throw MdbError{rc, "open the database"};
        }
    }
    ~Txn() {
        if (txn_) mdb_txn_abort(txn_);
    }
    Txn(const Txn&) = delete;
    Txn& operator=(const Txn&) = delete;
    MDB_txn* get() const { return txn_; }
    MDB_dbi dbi() const { return dbi_; }
    void commit() { check(mdb_txn_commit(std::exchange(txn_, nullptr)), "commit"); }
    void abort() {
        if (txn_) mdb_txn_abort(std::exchange(txn_, nullptr));
    }

  private:
    MDB_txn* txn_ = nullptr;
    MDB_dbi dbi_ = 0;
};

// Must be destroyed before its transaction ends (a write transaction frees
// its cursors itself), so it always lives in an inner scope.
class Cursor {
  public:
    explicit Cursor(const Txn& txn) { check(mdb_cursor_open(txn.get(), txn.dbi(), &cursor_), "cursor"); }
    ~Cursor() { mdb_cursor_close(cursor_); }
    Cursor(const Cursor&) = delete;
    Cursor& operator=(const Cursor&) = delete;
    // Positions at the first key >= from (MDB_SET_RANGE) or the next one.
    bool seek(std::string_view from, MDB_val& key, MDB_val& data) {
        key = as_val(from);
        return step(mdb_cursor_get(cursor_, &key, &data, from.empty() ? MDB_FIRST : MDB_SET_RANGE));
    }
    bool next(MDB_val& key, MDB_val& data) {
        return step(mdb_cursor_get(cursor_, &key, &data, MDB_NEXT));
    }
    void del() { check(mdb_cursor_del(cursor_, 0), "delete"); }

  private:
    static bool step(int rc) {
        if (rc == MDB_NOTFOUND) return false;
        check(rc, "read");
        return true;
    }
    MDB_cursor* cursor_ = nullptr;
};

// One transaction seen as Redis commands on named keys, at one clock.
class Keys {
  public:
    Keys(MDB_env* env, bool write, std::int64_t clock, std::size_t max_key)
        : txn_(env, write), write_(write), clock_(clock), max_key_(max_key) {}

    std::int64_t clock() const { return clock_; }
    const Txn& txn() const { return txn_; }

    // The key as LMDB stores it: the name, or when too long a prefix of it
    // and a hash (the full name then goes into the value).
    std::string db_key(const std::string& name) const {
        if (name.size() <= max_key_) return name;
        static constexpr char hex[] = "0123456789abcdef";
        std::string key = name.substr(0, max_key_ - 18);
        key += '\0';
        key += '#';
        for (int shift = 60; shift >= 0; shift -= 4) key += hex[(fnv1a(name) >> shift) & 15];
        return key;
    }

    // GET: an expired key is missing (and deleted by a write transaction).
    std::optional<Value> get(const std::string& name) {
        std::string key = db_key(name);
        MDB_val k = as_val(key), data{};
        int rc = mdb_get(txn_.get(), txn_.dbi(), &k, &data);
        if (rc == MDB_NOTFOUND) return std::nullopt;
        check(rc, "read");
        auto v = decode(as_view(data));
        if (v && key != name && v->full_key != name) return std::nullopt; // a hash collision
        if (v && !expired(*v, clock_)) return v;
        if (write_) erase(name);
        return std::nullopt;
    }

    // SET / HSET...: the whole value; an empty hash deletes the key, as
    // Redis drops a hash whose last field goes.
    void put(const std::string& name, Value v) {
        if (!v.is_string && v.fields.empty()) {
            erase(name);
            return;
        }
        std::string key = db_key(name);
        v.full_key = key == name ? std::string() : name;
        std::string bytes = encode(v);
        MDB_val k = as_val(key), data = as_val(bytes);
        check(mdb_put(txn_.get(), txn_.dbi(), &k, &data, 0), "write");
        dirty_ = true;
    }

    // DEL: true when the key was there.
    bool erase(const std::string& name) {
        std::string key = db_key(name);
        MDB_val k = as_val(key);
        int rc = mdb_del(txn_.get(), txn_.dbi(), &k, nullptr);
        if (rc == MDB_NOTFOUND) return false;
        check(rc, "delete");
        dirty_ = true;
        return true;
    }

    // Commits what changed; a transaction that changed nothing is only
    // aborted (no disk write).
    bool finish() {
        if (dirty_) txn_.commit();
        else txn_.abort();
        return dirty_;
    }

  private:
    Txn txn_;
    bool write_;
    bool dirty_ = false;
    std::int64_t clock_;
    std::size_t max_key_;
};

// The store's clock: $AUTHGUARD_NOW (tests, replays, the demo), else local.
std::int64_t store_clock() {
    if (const char* now = std::getenv("AUTHGUARD_NOW"); now && *now)
        if (auto t = to_int(now); t && *t > 0) return *t;
    return static_cast<std::int64_t>(std::time(nullptr));
}

void fill_history(History& h, const std::optional<Value>& obs, const std::optional<Value>& lock) {
    if (obs)
        for (auto& [field, value] : obs->fields) {
            if (field == "x|dropped") h.dropped = to_int(value).value_or(0);
            else if (auto o = parse_observation(field, value)) h.observations.push_back(std::move(*o));
        }
    if (lock && !lock->fields.empty()) {
        Lock l;
        for (auto& [field, value] : lock->fields) {
            if (field == "since") l.since = to_int_or_zero(&value);
            else if (field == "until") l.until = to_int_or_zero(&value);
            else if (field == "reason") l.reason = value;
            else if (field == "evidence") l.evidence = value;
            else if (field == "attempts_after") l.attempts_after = to_int_or_zero(&value);
            else if (field == "last_attempt") l.last_attempt = to_int_or_zero(&value);
        }
        h.lock = std::move(l);
    }
}

// The log followers' marks among a hash's fields: (follower, token).
void marks_of(const std::optional<Value>& hash,
              std::vector<std::pair<std::string, std::string>>& out) {
    if (!hash) return;
    for (auto& [field, value] : hash->fields)
        if (is_mark_field(field)) out.emplace_back(field.substr(2), value);
}

// Less than this left after a write came short: the disk is full (the
// write took what there was; a megabyte is nothing to a database that
// writes up to 64 pages at once, and leaves room for others' writes).
constexpr std::uint64_t short_write_slack = 1 << 20;

// Free bytes on the file system holding `dir` for this process (root may
// use the blocks reserved for it); nullopt when it cannot be told.
std::optional<std::uint64_t> free_bytes(const std::filesystem::path& dir) {
    struct statvfs fs {};
    if (::statvfs(dir.c_str(), &fs) != 0) return std::nullopt;
    std::uint64_t blocks = ::geteuid() == 0 ? fs.f_bfree : fs.f_bavail;
    return blocks * fs.f_frsize;
}

std::string describe(const MdbError& e, const std::filesystem::path& dir) {
    int rc = e.rc;
    // LMDB turns a short write into EIO ("short write, filesystem full?",
    // mdb_page_flush and mdb_env_write_meta in 0.9): a full disk would be
    // logged as "Input/output error", which sends an admin looking for a
    // failing disk. A write that came short on a file system with (almost)
    // nothing left is a full disk.
    std::string full;
    if (rc == EIO)
        if (auto left = free_bytes(dir); left && *left < short_write_slack) {
            rc = ENOSPC;
            full = " (the file system holding " + dir.string() +
                   " is full: " + std::to_string(*left) + " bytes free)";
        }
    if (rc == ENOSPC && full.empty())
        full = " (the file system holding " + dir.string() + " is full)";
    std::string text = std::string(e.what) + ": " + mdb_strerror(rc) + full;
    if (rc == MDB_MAP_FULL)
        text += " (the database reached its map size, lmdb-map-size: raise it, or run "
                "authguardctl gc)";
    if (e.rc == ENOMEM)
        text += " (the address space limit, softlimit -m or ulimit -v, leaves no room for the "
                "database: raise it by lmdb-map-size)";
    return text;
}

// LMDB writes lock.mdb through a shared map. On a file system with no room
// (a full tmpfs), the first touch of a page without a block is SIGBUS: the
// hook died unlogged (454 at AUTH, "qq crashed" at DATA) instead of failing
// open. Giving the file its blocks first (its size unchanged: LMDB sizes it)
// turns that into ENOSPC here. 64 KiB covers LMDB's reader table for its
// default 126 readers (about 8 KiB) many times. Returns 0 or an errno.
int reserve_lock_file(const std::filesystem::path& file) {
    constexpr off_t reserved = 64 * 1024;
    // Every hook run opens the store: once the blocks are there (all but
    // the first run), one stat is all this costs.
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0 &&
        static_cast<off_t>(st.st_blocks) * 512 >= std::max<off_t>(reserved, st.st_size))
        return 0;
    Fd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0660));
    if (fd.get() < 0) return errno;
#ifdef FALLOC_FL_KEEP_SIZE
    off_t length = reserved;
    if (::fstat(fd.get(), &st) == 0) length = std::max<off_t>(length, st.st_size);
    if (::fallocate(fd.get(), FALLOC_FL_KEEP_SIZE, 0, length) != 0 && errno != EOPNOTSUPP &&
        errno != ENOSYS)
        return errno;
#endif
    // (closed before LMDB takes its record locks on the file: closing any
    // descriptor of a file drops the process's locks on it)
    return 0;
}

// The map to ask for: lmdb-map-size, but at most a quarter of an address
// space limit (qmail run scripts often have "softlimit -m"), in whole MiB.
// LMDB maps at least the data already in the file, whatever is asked.
std::size_t map_size(std::int64_t configured) {
    auto size = static_cast<std::uint64_t>(configured);
    rlimit limit{};
    if (::getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
        size = std::min<std::uint64_t>(size, limit.rlim_cur / 4);
    size = std::max<std::uint64_t>(size >> 20, 1) << 20;
    return static_cast<std::size_t>(size);
}

// The uid's name from /etc/passwd, for the log line. Read by hand: the
// hooks are linked statically, where getpwuid() would need glibc's NSS
// modules at run time.
std::string user_name(uid_t uid) {
    std::ifstream passwd("/etc/passwd");
    const std::string wanted = std::to_string(uid);
    for (std::string line; std::getline(passwd, line);) {
        auto first = line.find(':'), second = line.find(':', first + 1);
        if (first == std::string::npos || second == std::string::npos) continue;
        auto third = line.find(':', second + 1);
        if (line.compare(second + 1, third - second - 1, wanted) == 0) return line.substr(0, first);
    }
    return "?";
}

// Hands a directory root has just made to the user the hooks run as
// (AUTHGUARD_USER, default vpopmail), when /etc/passwd knows that user;
// read by hand for the same reason as user_name(). Without such a user the
// directory stays root's, and check-config says so.
void give_to_hooks_user(const std::filesystem::path& path, struct stat& dir) {
    const std::string wanted = hooks_user();
    std::ifstream passwd("/etc/passwd");
    for (std::string line; std::getline(passwd, line);) {
        std::vector<std::string> field;
        for (std::size_t from = 0;;) {
            auto colon = line.find(':', from);
            field.push_back(line.substr(from, colon - from));
            if (colon == std::string::npos) break;
            from = colon + 1;
        }
        if (field.size() < 4 || field[0] != wanted) continue;
        std::uint32_t uid = 0, gid = 0;
        auto [u_end, u_err] = std::from_chars(field[2].data(), field[2].data() + field[2].size(), uid);
        auto [g_end, g_err] = std::from_chars(field[3].data(), field[3].data() + field[3].size(), gid);
        if (u_err != std::errc() || g_err != std::errc() || uid == 0) return;
        if (::chown(path.c_str(), uid, gid) == 0) ::stat(path.c_str(), &dir);
        return;
    }
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

// --- opening ------------------------------------------------------------------

std::filesystem::path default_lmdb_path(const std::filesystem::path& control_dir) {
    return beside_control_dir(control_dir, "authguard");
}

struct LmdbStore::Env {
    std::unique_ptr<MDB_env, EnvClose> env;
    std::size_t max_key = 511;
    Fd writer_lock; // writer.lock: the turn to write, taken with a deadline
    // A wait for writer.lock ran out and no turn was had since: the next
    // writes only try. Else a hook with several writes (authguard-queue
    // counts a message twice) waited lmdb-lock-timeout-ms for each.
    bool waited_out = false;
};

namespace {

// SIGALRM's handler while a writer waits: it only has to exist, so that
// the wait ends with EINTR.
void writer_turn_alarm(int) {}

// Open file description locks (Linux); elsewhere the process's record
// locks, the same for authguard's single-threaded programs.
#ifdef F_OFD_SETLK
constexpr int try_lock_command = F_OFD_SETLK, wait_lock_command = F_OFD_SETLKW;
#else
constexpr int try_lock_command = F_SETLK, wait_lock_command = F_SETLKW;
#endif

// The turn to write, held for one write transaction. LMDB's own writer
// mutex waits without end: a writer stopped or stuck on a slow disk would
// hang every login behind it. Every authguard writer takes this lock (an
// open file description lock, so threads of one process exclude each
// other too) before beginning. When it is busy, the wait is the kernel's
// (waiters are woken as soon as it is free: polling instead cost a tenth of
// the throughput and put p99 at 7-20 ms with 8 writers), cut short by a
// SIGALRM at the deadline, after which the store fails like a Redis that
// does not answer. The handler and the timer are the caller's again
// afterwards.
class WriterTurn {
  public:
    WriterTurn(int fd, int timeout_ms, const std::string& where) : fd_(fd) {
        if (lock(try_lock_command) == 0) return; // free: no timer needed
        if (errno != EAGAIN && errno != EACCES) fail(where, std::strerror(errno));
        if (timeout_ms <= 0)
            fail(where, "another writer still holds the database (past lmdb-lock-timeout-ms "
                        "already: not waiting again)");

        struct sigaction alarm_action {}, saved_action {};
        alarm_action.sa_handler = writer_turn_alarm; // no SA_RESTART: the wait ends with EINTR
        ::sigemptyset(&alarm_action.sa_mask);
        ::sigaction(SIGALRM, &alarm_action, &saved_action);
        struct itimerval deadline {}, saved_timer {};
        deadline.it_value.tv_sec = timeout_ms / 1000;
        deadline.it_value.tv_usec = (timeout_ms % 1000) * 1000;
        ::setitimer(ITIMER_REAL, &deadline, &saved_timer);
        sigset_t alarm_only, saved_mask;
        ::sigemptyset(&alarm_only);
        ::sigaddset(&alarm_only, SIGALRM);
        ::sigprocmask(SIG_UNBLOCK, &alarm_only, &saved_mask);

        int rc, err = 0;
        for (;;) {
            rc = lock(wait_lock_command);
            err = errno;
            if (rc == 0 || err != EINTR) break;
            struct itimerval left {};
            ::getitimer(ITIMER_REAL, &left);
            if (left.it_value.tv_sec == 0 && left.it_value.tv_usec == 0) break; // the deadline
        }

        struct itimerval off {};
        ::setitimer(ITIMER_REAL, &off, nullptr);
        ::sigprocmask(SIG_SETMASK, &saved_mask, nullptr);
        ::sigaction(SIGALRM, &saved_action, nullptr);
        if (saved_timer.it_value.tv_sec || saved_timer.it_value.tv_usec)
            ::setitimer(ITIMER_REAL, &saved_timer, nullptr); // (late by our wait at most)
        if (rc == 0) return;
        if (err == EINTR)
            fail(where, "another writer has held the database for over " + std::to_string(timeout_ms) +
                            " ms (lmdb-lock-timeout-ms)");
        fail(where, std::strerror(err));
    }
    ~WriterTurn() { lock(try_lock_command, F_UNLCK); }
    WriterTurn(const WriterTurn&) = delete;
    WriterTurn& operator=(const WriterTurn&) = delete;

  private:
    int lock(int command, short type = F_WRLCK) {
        struct flock whole {};
        whole.l_type = type;
        whole.l_whence = SEEK_SET;
        return ::fcntl(fd_, command, &whole);
    }
    [[noreturn]] static void fail(const std::string& where, const std::string& why) {
        throw StoreError(where + ": writer.lock: " + why);
    }
    int fd_;
};

} // namespace

LmdbStore::LmdbStore(const Config& config)
    : config_(config),
      path_(config.store.lmdb_path.empty() ? default_lmdb_path(config.control_dir)
                                           : std::filesystem::path(config.store.lmdb_path)) {}

LmdbStore::~LmdbStore() = default;

void LmdbStore::prepare() {
    try {
        env();
    } catch (const StoreError&) {
        // the next call opens it again, and fails the same way
    }
}

LmdbStore::Env& LmdbStore::env() {
    if (env_) return *env_;
    const std::string where = "lmdb " + path_.string();
    const std::string hint =
        " (the users qmail-smtpd and qmail-pop3d run as must be able to write it; see README)";
    auto who = [] {
        uid_t uid = ::geteuid();
        return "uid " + std::to_string(uid) + " (" + user_name(uid) + ")";
    };
    struct stat dir {};
    if (::stat(path_.c_str(), &dir) != 0) {
        // (a login at the same moment may create it first: EEXIST is fine)
        if (errno != ENOENT)
            throw StoreError(where + ": cannot create the directory as " + who() + ": " +
                             std::strerror(errno) + hint);
        bool created = ::mkdir(path_.c_str(), 0770) == 0;
        if ((!created && errno != EEXIST) || ::stat(path_.c_str(), &dir) != 0)
            throw StoreError(where + ": cannot create the directory as " + who() + ": " +
                             std::strerror(errno) + hint);
        // A hook run as root (qmail-popup's checkpassword chain) would
        // otherwise make it root's, and every smtpd login, run as the
        // hooks' user, would then go through unguarded.
        if (created && ::geteuid() == 0) give_to_hooks_user(path_, dir);
    }
    if (!S_ISDIR(dir.st_mode)) throw StoreError(where + ": not a directory");
    if (::faccessat(AT_FDCWD, path_.c_str(), W_OK | X_OK, AT_EACCESS) != 0)
        throw StoreError(where + ": directory not writable by " + who() + ": " +
                         std::strerror(errno) + hint);
    for (const char* name : {"data.mdb", "lock.mdb", "writer.lock"}) {
        auto file = path_ / name;
        if (::faccessat(AT_FDCWD, file.c_str(), R_OK | W_OK, AT_EACCESS) != 0 && errno != ENOENT)
            throw StoreError(where + ": " + name + " not writable by " + who() + ": " +
                             std::strerror(errno) + hint);
    }

    auto fresh = std::make_unique<Env>();
    MDB_env* raw = nullptr;
    try {
        check(reserve_lock_file(path_ / "lock.mdb"), "lock.mdb");
        check(mdb_env_create(&raw), "create the environment");
        fresh->env.reset(raw);
        check(mdb_env_set_mapsize(raw, map_size(config_.store.lmdb_map_size)), "set the map size");
        // One fdatasync per commit: a power loss may undo the last commit
        // but never leaves a damaged file. MDB_NOTLS: slots belong to
        // transactions, not threads. lmdb-sync = periodic: no sync at
        // commit (MDB_NOSYNC), see sync_if_due().
        unsigned flags = MDB_NOTLS | (config_.store.lmdb_sync == StoreConfig::LmdbSync::periodic
                                          ? MDB_NOSYNC
                                          : MDB_NOMETASYNC);
        check(mdb_env_open(raw, path_.c_str(), flags, 0660), "open");
    } catch (const MdbError& e) {
        throw StoreError(where + ": " + describe(e, path_) + (e.rc == EACCES ? hint : ""));
    }
    fresh->max_key = static_cast<std::size_t>(mdb_env_get_maxkeysize(raw));
    int lock_fd = ::open((path_ / "writer.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0660);
    if (lock_fd < 0)
        throw StoreError(where + ": cannot open writer.lock as " + who() + ": " + std::strerror(errno) + hint);
    fresh->writer_lock = Fd(lock_fd);
    // Programs we start (notify, the next queue program) must not inherit it.
    int fd = -1;
    if (mdb_env_get_fd(raw, &fd) == MDB_SUCCESS && fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    // Files created by root (authguardctl, the POP3 chain before vchkpw
    // drops privileges) go to the directory's owner, and follow its group
    // write permission, so the hooks' users can still write them.
    for (const char* name : {"data.mdb", "lock.mdb", "writer.lock"}) {
        auto file = path_ / name;
        struct stat st {};
        if (::stat(file.c_str(), &st) != 0) continue;
        if (::geteuid() == 0 && st.st_uid == 0 && dir.st_uid != 0)
            [[maybe_unused]] int rc = ::chown(file.c_str(), dir.st_uid, dir.st_gid);
        if ((dir.st_mode & S_IWGRP) && !(st.st_mode & S_IWGRP) &&
            (st.st_uid == ::geteuid() || ::geteuid() == 0))
            ::chmod(file.c_str(), (st.st_mode & 07777) | S_IRGRP | S_IWGRP);
    }
    env_ = std::move(fresh);
    return *env_;
}

// lmdb-sync = periodic: commits reach the page cache only; the first commit
// a second or more after the last sync (of any process: writer.lock's
// mtime records it) syncs the data file. The sync of "always" costs
// 0.1-3 ms a login on a disk (bench/RESULTS.md section 5); this one, about
// one login a second. A failed sync is retried by the next commit.
void LmdbStore::sync_if_due(Env& e) {
    if (config_.store.lmdb_sync != StoreConfig::LmdbSync::periodic) return;
    struct stat st {};
    if (::fstat(e.writer_lock.get(), &st) == 0 && std::time(nullptr) - st.st_mtime < 1) return;
    if (mdb_env_sync(e.env.get(), 1) == MDB_SUCCESS) ::futimens(e.writer_lock.get(), nullptr);
}

// Runs `body` on a Keys view of a new transaction, and commits. Retries the
// LMDB codes that ask for it: another process grew the map, or the map is
// full (expired keys are collected first, once).
template <typename F> auto LmdbStore::run(bool write, F&& body) {
    Env& e = env();
    for (int attempt = 0;; ++attempt) {
        try {
            std::optional<WriterTurn> turn;
            if (write) {
                const bool waited_out = std::exchange(e.waited_out, true); // until the turn is had
                turn.emplace(e.writer_lock.get(),
                             waited_out ? 0 : config_.store.lmdb_lock_timeout_ms,
                             "lmdb " + path_.string());
                e.waited_out = false;
            }
            Keys keys(e.env.get(), write, store_clock(), e.max_key);
            auto result = body(keys);
            bool committed = keys.finish();
            turn.reset(); // the next writer need not wait for a sync
            if (committed) sync_if_due(e);
            return result;
        } catch (const MdbError& err) {
            if (err.rc == MDB_MAP_RESIZED && attempt < 3) {
                mdb_env_set_mapsize(e.env.get(), 0);
                continue;
            }
            if (err.rc == MDB_MAP_FULL && write && attempt == 0) {
                // Room made by expiry, within the hook's own lock budget:
                // `authguardctl gc`'s longer wait and whole-database scan
                // would hold the login (and every login after it while
                // the map stays full) for seconds.
                collect(config_.store.lmdb_lock_timeout_ms, config_.store.lmdb_lock_timeout_ms);
                continue;
            }
            if (err.rc == MDB_READERS_FULL && attempt == 0) {
                int dead = 0;
                mdb_reader_check(e.env.get(), &dead);
                continue;
            }
            throw StoreError("lmdb " + path_.string() + ": " + describe(err, path_));
        }
    }
}

// --- keys ---------------------------------------------------------------------

std::string LmdbStore::observations_key(const std::string& user) const {
    return config_.store.key_prefix + "{" + user + "}";
}

std::string LmdbStore::lock_key(const std::string& user) const {
    return observations_key(user) + ":lock";
}

std::string LmdbStore::rate_key(const std::string& sender) const {
    if (sender.rfind("relay:", 0) == 0)
        return config_.store.key_prefix + "relay:{" + sender.substr(6) + "}:rate";
    return observations_key(sender) + ":rate";
}

std::string LmdbStore::session_key(const std::string& session) const {
    return config_.store.key_prefix + "session:{" + session + "}";
}

std::int64_t LmdbStore::now() { return store_clock(); }

// --- the record script ----------------------------------------------------------

RecordResult LmdbStore::record(const Event& event, const RecordOptions& options) {
    return run(true, [&](Keys& keys) {
        const std::int64_t clock = keys.clock();
        const std::int64_t now = event.time > 0 ? event.time : clock;
        if (!options.bind_session.empty()) {
            Value session;
            session.is_string = true;
            session.text = event.user;
            session.expire_at = clock + options.session_ttl;
            keys.put(session_key(options.bind_session), std::move(session));
        }
        const std::string obs_key = observations_key(event.user), lk = lock_key(event.user);
        std::optional<Value> obs = keys.get(obs_key);
        std::optional<Value> lock = keys.get(lk);

        char mode = '-';
        if (options.count) mode = event.outcome == Outcome::success ? 's' : 'f';
        if (mode != '-') {
            if (!obs) obs.emplace();
            std::string field = std::string(1, mode) + "|" + event.address;
            std::string suffix;
            suffix =
                observation_suffix(mode == 'f' ? event.fingerprint : std::nullopt, event.service);
            const std::size_t max = static_cast<std::size_t>(config_.max_entries);
            if (const std::string* old = obs->get(field)) {
                Observation o;
                if (auto parsed = parse_observation(field, *old)) o = *parsed;
                std::int64_t first = std::min(o.first, now), last = std::max(o.last, now);
                obs->set(field, std::to_string(first) + " " + std::to_string(last) + " " +
                                    std::to_string(o.count + 1) + suffix);
            } else {
                // Full: forget what has expired; if still full, forget the
                // entry seen least recently (a failure before a success), so
                // the newest event -- perhaps a botnet's first login -- is
                // always seen.
                // Followers' marks are no entries.
                const auto marks = static_cast<std::size_t>(std::count_if(
                    obs->fields.begin(), obs->fields.end(),
                    [](const auto& fv) { return is_mark_field(fv.first); }));
                if (obs->fields.size() - marks >= max) {
                    std::optional<std::string> oldest;
                    double oldest_rank = 0;
                    std::erase_if(obs->fields, [&](const auto& fv) {
                        char kind = fv.first.empty() ? '\0' : fv.first[0];
                        if (kind == 'x' || kind == 'q') return false;
                        // '^%d+ (%d+)': the second number
                        auto space = fv.second.find(' ');
                        if (space == std::string::npos) return false;
                        auto rest = std::string_view(fv.second).substr(space + 1);
                        auto last = to_int(rest.substr(0, rest.find(' ')));
                        if (!last) return false;
                        std::int64_t keep = kind == 'f' ? config_.window_long : config_.known_period;
                        if (*last < now - keep) return true;
                        double rank = static_cast<double>(*last) - (kind == 'f' ? 1e12 : 0);
                        if (!oldest || rank < oldest_rank) {
                            oldest = fv.first;
                            oldest_rank = rank;
                        }
                        return false;
                    });
                    if (obs->fields.size() - marks >= max && oldest) {
                        obs->del(*oldest);
                        incr(*obs, "x|dropped", 1);
                    }
                }
                obs->set(field, std::to_string(now) + " " + std::to_string(now) + " 1" + suffix);
            }
            if (options.mark) obs->set(mark_field(options.mark->follower), options.mark->token);
            obs->expire_at = clock + config_.known_period;
            keys.put(obs_key, *obs);
            if (lock) {
                auto until = lock->get("until") ? to_int(*lock->get("until")) : std::nullopt;
                if (until && (*until == 0 || *until > now)) {
                    incr(*lock, "attempts_after", 1);
                    lock->set("last_attempt", std::to_string(now));
                    lock->expire_at = clock + config_.lock_retention;
                    keys.put(lk, *lock);
                }
            }
        }
        RecordResult result;
        result.now = now;
        fill_history(result.history, obs, lock);
        return result;
    });
}

// --- the message script ---------------------------------------------------------

MessageCounts LmdbStore::count_message(const std::string& sender, std::int64_t time, int messages,
                                       int recipients, const FeedMark* mark) {
    return run(true, [&](Keys& keys) {
        const std::int64_t clock = keys.clock();
        const std::int64_t now = time > 0 ? time : clock;
        const bool relay = sender.rfind("relay:", 0) == 0;
        const std::string rk = rate_key(sender);
        const std::string lk =
            relay ? config_.store.key_prefix + "relay:{" + sender.substr(6) + "}:lock" : lock_key(sender);
        const std::int64_t short_window = config_.window_short, long_window = config_.window_long;
        const std::int64_t short_step = std::max<std::int64_t>(1, short_window / 12);
        const std::int64_t long_step = std::max<std::int64_t>(1, long_window / 24);

        std::optional<Value> rate = keys.get(rk);
        bool changed = false;
        if (messages > 0 || recipients > 0) {
            if (!rate) rate.emplace();
            std::string s = std::to_string(now / short_step), l = std::to_string(now / long_step);
            incr(*rate, "s" + s + "m", messages);
            incr(*rate, "s" + s + "r", recipients);
            incr(*rate, "l" + l + "r", recipients);
            if (mark) rate->set(mark_field(mark->follower), mark->token);
            rate->expire_at = clock + long_window + long_step;
            changed = true;
        } else if (rate && (messages < 0 || recipients < 0)) {
            // Takes back a message counted at `now` that was then not
            // queued (message.lua): never below 0, an emptied bucket goes.
            std::string s = std::to_string(now / short_step), l = std::to_string(now / long_step);
            for (auto [field, by] :
                 {std::pair{"s" + s + "m", messages}, std::pair{"s" + s + "r", recipients},
                  std::pair{"l" + l + "r", recipients}}) {
                const std::string* old = rate->get(field);
                if (!old) continue;
                std::int64_t left = to_int_or_zero(old) + by;
                if (left > 0)
                    rate->set(field, std::to_string(left));
                else
                    rate->del(field);
                changed = true;
            }
        }
        MessageCounts counts;
        counts.now = now;
        if (rate) {
            std::erase_if(rate->fields, [&](const auto& fv) {
                // '^(%a)(%d+)(%a)$' (a follower's mark, "q|...", is none)
                const std::string& f = fv.first;
                if (f.size() < 3 || !std::isalpha(static_cast<unsigned char>(f.front())) ||
                    !std::isalpha(static_cast<unsigned char>(f.back())))
                    return false;
                auto bucket = to_int(std::string_view(f).substr(1, f.size() - 2));
                if (!bucket || *bucket < 0 || f[1] == '-' || f[1] == '+') return false;
                std::int64_t value = to_int(fv.second).value_or(0);
                if (f[0] == 's') {
                    if ((*bucket + 1) * short_step <= now - short_window) return changed = true;
                    if (f.back() == 'm') counts.messages_short += value;
                    else counts.recipients_short += value;
                } else if (f[0] == 'l') {
                    if ((*bucket + 1) * long_step <= now - long_window) return changed = true;
                    counts.recipients_long += value;
                }
                return false;
            });
            if (changed) keys.put(rk, *rate); // an emptied hash removes the key
        }
        History h;
        fill_history(h, std::nullopt, keys.get(lk));
        counts.lock = std::move(h.lock);
        return counts;
    });
}

std::optional<std::string> LmdbStore::feed_mark(const std::string& user, FeedKind kind,
                                                const std::string& follower) {
    return run(false, [&](Keys& keys) -> std::optional<std::string> {
        auto v = keys.get(kind == FeedKind::login ? observations_key(user) : rate_key(user));
        const std::string* token = v ? v->get(mark_field(follower)) : nullptr;
        if (!token) return std::nullopt;
        return *token;
    });
}

// --- sessions and locks ---------------------------------------------------------

std::optional<std::string> LmdbStore::session_user(const std::string& session, std::int64_t ttl) {
    return run(true, [&](Keys& keys) -> std::optional<std::string> {
        const std::string key = session_key(session);
        std::optional<Value> v = keys.get(key);
        if (!v || !v->is_string) return std::nullopt;
        v->expire_at = keys.clock() + ttl; // GETEX ... EX ttl
        keys.put(key, *v);
        return v->text;
    });
}

LockAttempt LmdbStore::attempt_on_lock(const std::string& user, std::int64_t time, bool count) {
    return run(count, [&](Keys& keys) {
        LockAttempt result;
        const std::int64_t clock = keys.clock();
        result.now = time > 0 ? time : clock;
        const std::string key = lock_key(user);
        std::optional<Value> lock = keys.get(key);
        if (!lock) return result;
        auto until = lock->get("until") ? to_int(*lock->get("until")) : std::nullopt;
        if (!until || (*until != 0 && *until <= result.now)) return result;
        if (count) {
            incr(*lock, "attempts_after", 1);
            lock->set("last_attempt", std::to_string(result.now));
            lock->expire_at = clock + config_.lock_retention;
            keys.put(key, *lock);
        }
        History h;
        fill_history(h, std::nullopt, lock);
        result.lock = std::move(h.lock);
        return result;
    });
}

bool LmdbStore::set_lock(const std::string& user, const Lock& lock) {
    return run(true, [&](Keys& keys) {
        const std::string key = lock_key(user);
        if (std::optional<Value> old = keys.get(key))
            if (const std::string* until = old->get("until"))
                if (auto t = to_int(*until); t && (*t == 0 || *t > lock.since)) return false;
        Value v;
        v.set("since", std::to_string(lock.since));
        v.set("until", std::to_string(lock.until));
        v.set("reason", lock.reason);
        v.set("evidence", lock.evidence);
        v.set("attempts_after", "0");
        v.set("last_attempt", std::to_string(lock.since));
        v.expire_at = keys.clock() + config_.lock_retention;
        keys.put(key, std::move(v));
        return true;
    });
}

void LmdbStore::take_back_success(const std::string& user, const std::string& address) {
    run(true, [&](Keys& keys) {
        const std::string ok = observations_key(user);
        std::optional<Value> obs = keys.get(ok);
        if (!obs) return false;
        const std::string field = observation_field(Observation::Kind::success, address);
        const std::string* old = obs->get(field);
        if (!old) return false;
        auto parsed = parse_observation(field, *old);
        if (!parsed || parsed->count <= 1) {
            obs->del(field);
        } else {
            obs->set(field, std::to_string(parsed->first) + " " + std::to_string(parsed->last) +
                                " " + std::to_string(parsed->count - 1));
        }
        keys.put(ok, *obs);
        return true;
    });
}

bool LmdbStore::clear_lock(const std::string& user, const std::vector<std::string>& forget) {
    return run(true, [&](Keys& keys) {
        const std::string lk = lock_key(user), ok = observations_key(user);
        bool had = keys.get(lk).has_value() && keys.erase(lk);
        if (std::optional<Value> obs = keys.get(ok); obs && !forget.empty()) {
            auto before = obs->fields.size();
            for (auto& address : forget)
                obs->del(observation_field(Observation::Kind::success, address));
            if (obs->fields.size() != before) keys.put(ok, *obs);
        }
        return had;
    });
}

// --- the admin queries ----------------------------------------------------------

History LmdbStore::load(const std::string& user) {
    return run(false, [&](Keys& keys) {
        History h;
        fill_history(h, keys.get(observations_key(user)), keys.get(lock_key(user)));
        return h;
    });
}

namespace {

// Calls f(name, value) for every live key whose name starts with `prefix`.
template <typename F> void scan(Keys& keys, const std::string& prefix, F&& f) {
    Cursor cursor(keys.txn());
    MDB_val k{}, data{};
    for (bool more = cursor.seek(prefix, k, data); more; more = cursor.next(k, data)) {
        std::string_view key = as_view(k);
        if (!starts_with(key, prefix)) break;
        auto v = decode(as_view(data));
        if (!v || expired(*v, keys.clock())) continue;
        std::string name = v->full_key.empty() ? std::string(key) : v->full_key;
        f(name, *v, k.mv_size + data.mv_size);
    }
}

} // namespace

std::vector<std::string> LmdbStore::users() {
    return run(false, [&](Keys& keys) {
        std::vector<std::string> out;
        const std::string prefix = config_.store.key_prefix + "{";
        scan(keys, prefix, [&](const std::string& name, const Value&, std::size_t) {
            // as SCAN MATCH <prefix>{*} and <prefix>{*}:lock
            if (ends_with(name, "}:lock") && name.size() >= prefix.size() + 6)
                out.push_back(name.substr(prefix.size(), name.size() - prefix.size() - 6));
            else if (ends_with(name, "}") && name.size() >= prefix.size() + 1)
                out.push_back(name.substr(prefix.size(), name.size() - prefix.size() - 1));
        });
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return out;
    });
}

StoreStats LmdbStore::stats() {
    return run(false, [&](Keys& keys) {
        StoreStats s;
        std::vector<std::string> names;
        const std::string prefix = config_.store.key_prefix + "{";
        scan(keys, prefix, [&](const std::string& name, const Value& v, std::size_t bytes) {
            if (ends_with(name, "}:lock") && name.size() >= prefix.size() + 6) {
                names.push_back(name.substr(prefix.size(), name.size() - prefix.size() - 6));
                if (!v.fields.empty()) ++s.locks;
            } else if (ends_with(name, "}") && name.size() >= prefix.size() + 1) {
                names.push_back(name.substr(prefix.size(), name.size() - prefix.size() - 1));
                for (auto& field : v.fields)
                    if (parse_observation(field.first, field.second)) ++s.observations;
            } else {
                return;
            }
            s.memory_bytes += static_cast<std::int64_t>(bytes);
        });
        std::sort(names.begin(), names.end());
        s.users = std::unique(names.begin(), names.end()) - names.begin();
        return s;
    });
}

std::int64_t LmdbStore::ttl(const std::string& key) {
    return run(false, [&](Keys& keys) -> std::int64_t {
        auto v = keys.get(key);
        if (!v) return -2;
        return v->expire_at == 0 ? -1 : v->expire_at - keys.clock();
    });
}

std::int64_t LmdbStore::key_bytes(const std::string& key) {
    return run(false, [&](Keys& keys) -> std::int64_t {
        auto v = keys.get(key);
        if (!v) return 0;
        return static_cast<std::int64_t>(keys.db_key(key).size() + encode(*v).size());
    });
}

// --- export and import ----------------------------------------------------------

UserDump LmdbStore::dump(const std::string& user) {
    return run(false, [&](Keys& keys) {
        UserDump d;
        d.user = user;
        auto left = [&](const std::optional<Value>& v) -> std::int64_t {
            return v && v->expire_at ? std::max<std::int64_t>(1, v->expire_at - keys.clock()) : 0;
        };
        auto obs = keys.get(observations_key(user));
        auto lock = keys.get(lock_key(user));
        auto rate = keys.get(rate_key(user));
        fill_history(d.history, obs, lock);
        marks_of(obs, d.marks);
        d.observations_ttl = left(obs);
        d.lock_ttl = left(lock);
        if (rate)
            for (auto& [field, value] : rate->fields)
                if (!is_mark_field(field)) d.rate.emplace_back(field, to_int(value).value_or(0));
        marks_of(rate, d.rate_marks);
        d.rate_ttl = left(rate);
        return d;
    });
}

void LmdbStore::restore(const UserDump& d) {
    run(true, [&](Keys& keys) {
        const std::int64_t clock = keys.clock();
        auto until = [&](std::int64_t ttl, std::int64_t fallback) {
            return clock + (ttl > 0 ? ttl : fallback);
        };
        Value obs;
        for (auto& o : d.history.observations) {
            std::string value = std::to_string(o.first) + " " + std::to_string(o.last) + " " +
                                std::to_string(o.count);
            value += observation_suffix(o.fingerprint, o.service);
            obs.set(observation_field(o.kind, o.address), std::move(value));
        }
        if (d.history.dropped > 0) obs.set("x|dropped", std::to_string(d.history.dropped));
        for (auto& [follower, token] : d.marks) obs.set(mark_field(follower), token);
        obs.expire_at = until(d.observations_ttl, config_.known_period);
        keys.put(observations_key(d.user), std::move(obs));

        Value lock;
        if (const auto& l = d.history.lock) {
            lock.set("since", std::to_string(l->since));
            lock.set("until", std::to_string(l->until));
            lock.set("reason", l->reason);
            lock.set("evidence", l->evidence);
            lock.set("attempts_after", std::to_string(l->attempts_after));
            lock.set("last_attempt", std::to_string(l->last_attempt));
        }
        lock.expire_at = until(d.lock_ttl, config_.lock_retention);
        keys.put(lock_key(d.user), std::move(lock));

        Value rate;
        for (auto& [field, count] : d.rate) rate.set(field, std::to_string(count));
        for (auto& [follower, token] : d.rate_marks) rate.set(mark_field(follower), token);
        rate.expire_at =
            until(d.rate_ttl, config_.window_long + std::max<std::int64_t>(1, config_.window_long / 24));
        keys.put(rate_key(d.user), std::move(rate));
        return 0;
    });
}

// --- maintenance ----------------------------------------------------------------

LmdbStore::GcResult LmdbStore::gc() {
    return collect(std::max(config_.store.lmdb_lock_timeout_ms, 10000), 0);
}

LmdbStore::GcResult LmdbStore::collect(int lock_timeout_ms, int budget_ms) {
    GcResult result;
    Env& e = env();
    int dead = 0;
    if (mdb_reader_check(e.env.get(), &dead) == MDB_SUCCESS) result.stale_readers = dead;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(budget_ms);
    // Short write transactions, so that logins never wait long behind gc.
    std::string from;
    for (bool more = true; more;) {
        if (budget_ms > 0 && std::chrono::steady_clock::now() >= deadline) break;
        try {
            WriterTurn turn(e.writer_lock.get(), lock_timeout_ms, "lmdb " + path_.string());
            Txn txn(e.env.get(), true);
            const std::int64_t clock = store_clock();
            {
                Cursor cursor(txn);
                MDB_val k{}, data{};
                bool at = cursor.seek(from, k, data);
                for (int batch = 0; at && batch < 1000; ++batch) {
                    ++result.keys;
                    std::string key(as_view(k));
                    auto v = decode(as_view(data));
                    if (!v || expired(*v, clock)) {
                        cursor.del();
                        ++result.removed;
                        at = cursor.seek(key, k, data); // the key after the deleted one
                    } else {
                        at = cursor.next(k, data);
                    }
                }
                more = at;
                if (at) from.assign(as_view(k));
            }
            txn.commit();
        } catch (const MdbError& err) {
            throw StoreError("lmdb " + path_.string() + ": gc: " + describe(err, path_));
        }
    }
    return result;
}

LmdbStore::Usage LmdbStore::usage() {
    MDB_env* e = env().env.get();
    Usage u;
    MDB_envinfo info{};
    MDB_stat st{};
    if (mdb_env_info(e, &info) == MDB_SUCCESS && mdb_env_stat(e, &st) == MDB_SUCCESS) {
        u.used_bytes = static_cast<std::int64_t>((info.me_last_pgno + 1) * st.ms_psize);
        u.tree_bytes = static_cast<std::int64_t>(
            (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize);
    }
    struct stat file {};
    if (::stat((path_ / "data.mdb").c_str(), &file) == 0) u.file_bytes = file.st_size;
    return u;
}

} // namespace authguard
