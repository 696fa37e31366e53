// lmdb_store.hpp - the Store in an embedded LMDB database: the default for a
// single host that runs no Redis.
//
// Every hook process opens the database directory (lmdb-path, by default
// "authguard" beside the control directory) and does each event in one
// write transaction: the read-modify-write of lib/record.lua and
// lib/message.lua, step for step, under LMDB's single-writer lock, so any
// number of concurrent qmail-smtpd and qmail-pop3d processes see one
// consistent history. A commit is crash-safe (copy-on-write pages; a power
// loss may undo the last commit, never corrupt the file).
//
// Keys are the Redis store's key names (<prefix>{<user>}, <prefix>{<user>}:lock,
// <prefix>{<user>}:rate, <prefix>relay:{<address>}:rate,
// <prefix>session:{<key>}); each value is a small hash (or a string) with
// its expiry time. The expiry clock is $AUTHGUARD_NOW or the local clock,
// as Redis' TTLs run on the server's; an expired key is gone for every
// reader and is deleted by the next write that touches it, or by gc().
//
// The directory must be writable by every user the hooks run as; when it is
// not, every operation throws StoreError naming the directory and the uid,
// and the guard fails open (or tempfails) as for an unreachable Redis.
#pragma once

#include "authguard/store.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace authguard {

// "authguard" beside the control directory: /var/qmail/authguard for
// /var/qmail/control.
std::filesystem::path default_lmdb_path(const std::filesystem::path& control_dir);

class LmdbStore final : public Store {
  public:
    explicit LmdbStore(const Config& config);
    void prepare() override; // opens the environment (no transaction)
    ~LmdbStore() override;
    LmdbStore(const LmdbStore&) = delete;
    LmdbStore& operator=(const LmdbStore&) = delete;

    using Store::record;
    RecordResult record(const Event& event, const RecordOptions& options) override;
    using Store::count_message;
    MessageCounts count_message(const std::string& sender, std::int64_t time, int messages,
                                int recipients, const FeedMark* mark) override;
    std::optional<std::string> feed_mark(const std::string& user, FeedKind kind,
                                         const std::string& follower) override;
    std::optional<std::string> session_user(const std::string& session_key,
                                            std::int64_t ttl) override;
    void take_back_success(const std::string& user, const std::string& address) override;
    LockAttempt attempt_on_lock(const std::string& user, std::int64_t time, bool count) override;
    bool set_lock(const std::string& user, const Lock& lock) override;
    bool clear_lock(const std::string& user, const std::vector<std::string>& forget) override;
    History load(const std::string& user) override;
    std::vector<std::string> users() override;
    std::int64_t now() override; // $AUTHGUARD_NOW, else the local clock
    StoreStats stats() override;
    UserDump dump(const std::string& user) override;
    void restore(const UserDump& dump) override;

    // Deletes every expired key (of every key prefix) in batches of short
    // write transactions, and clears reader slots left by dead processes.
    struct GcResult {
        std::int64_t keys = 0;    // keys looked at
        std::int64_t removed = 0; // expired keys deleted
        std::int64_t stale_readers = 0;
    };
    GcResult gc();

    const std::filesystem::path& path() const { return path_; }
    // The database file's size, the bytes up to its last page in use, and
    // the bytes of the B-tree's pages (the rest are free pages, reused).
    struct Usage {
        std::int64_t file_bytes = 0;
        std::int64_t used_bytes = 0;
        std::int64_t tree_bytes = 0;
    };
    Usage usage();

    // For tests and the admin tool: the key names (as in Redis), a key's
    // time to live in seconds as Redis' TTL answers (-2: no such key, -1:
    // no expiry) and the bytes its key and value take.
    std::string observations_key(const std::string& user) const;
    std::string lock_key(const std::string& user) const;
    std::string rate_key(const std::string& sender) const;
    std::string session_key(const std::string& session) const;
    std::int64_t ttl(const std::string& key);
    std::int64_t key_bytes(const std::string& key);

  private:
    struct Env; // the MDB_env and its handle, opened on first use
    Env& env();
    void sync_if_due(Env& e); // lmdb-sync = periodic
    // Runs body(keys) in one transaction and commits it (lmdb_store.cpp).
    template <typename F> auto run(bool write, F&& body);
    // gc's work: each batch waits at most lock_timeout_ms for writer.lock,
    // and no batch starts after `budget_ms` (0: no budget) has passed.
    GcResult collect(int lock_timeout_ms, int budget_ms);

    const Config& config_;
    std::filesystem::path path_;
    std::unique_ptr<Env> env_;
};

} // namespace authguard
