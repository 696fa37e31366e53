// policy/service.hpp - the detector behind authguard-policyd: one Postfix
// policy request or one Dovecot auth-policy request in, one answer out.
//
// This is where the two protocols meet the same Guard the qmail hooks use;
// the daemon (plugins/policyd) only moves bytes. A Service belongs to one
// worker thread (its Store connection and Logger are not shared); the
// SessionMemory behind it is shared by all workers and locks itself.
#pragma once
#include "authguard/config.hpp"
#include "authguard/guard.hpp"
#include "authguard/log.hpp"
#include "authguard/policy/dovecot.hpp"
#include "authguard/policy/postfix.hpp"
#include "authguard/store.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace authguard::policy {

// Keys seen recently, each forgotten after `ttl` or when more than
// `capacity` are held (the oldest first): memory stays bounded whatever
// the clients send.
class RecentKeys {
  public:
    RecentKeys(std::size_t capacity, std::chrono::seconds ttl) : capacity_(capacity), ttl_(ttl) {}
    // True when `key` was not held (and holds it now).
    bool insert(const std::string& key, std::chrono::steady_clock::time_point now);
    bool contains(const std::string& key, std::chrono::steady_clock::time_point now);
    // A multiset use: `add` holds one more of `key` (and renews its time),
    // `take` gives one back; true when one was held.
    void add(const std::string& key, std::chrono::steady_clock::time_point now);
    bool take(const std::string& key, std::chrono::steady_clock::time_point now);
    std::size_t size() const { return order_.size(); }

  private:
    void expire(std::chrono::steady_clock::time_point now);
    // The key is kept once, in index_'s node (whose address never changes);
    // the list points at it.
    struct Entry {
        const std::string* key;
        std::chrono::steady_clock::time_point at;
        unsigned held = 1;
    };
    void drop_oldest();
    std::size_t capacity_;
    std::chrono::seconds ttl_;
    std::list<Entry> order_; // oldest first
    std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

// What the workers share: which SMTP sessions have counted their login,
// and which logins Dovecot reported for SMTP (Postfix's SASL goes through
// Dovecot, which asks the HTTP policy too: the same login must count once).
class SessionMemory {
  public:
    SessionMemory();
    // True the first time a Postfix session (see session_key in service.cpp)
    // is seen: its login is to be counted.
    bool first_request_of_session(const std::string& session);
    // One SMTP login (Postfix SASL through Dovecot) reaches the daemon
    // twice: as Dovecot's report (protocol smtp) and as Postfix's first
    // request of the session, in either order (Dovecot does not wait for
    // the report's answer). The first to come counts it; the second finds
    // its mark, takes it and counts nothing. True: the other side has
    // counted it already.
    // False: this side counts it, and must call smtp_login_check_done once
    // its check is over (SmtpLoginCheck does). True: taken after waiting (at
    // most 2 s) for the other side's check to end, so that a lock that check
    // sets is in the store before this side judges the message.
    enum class Side { dovecot, postfix };
    bool smtp_login_counted_by_other(Side side, const std::string& user,
                                     const std::string& address);
    void smtp_login_check_done(const std::string& user, const std::string& address);

  private:
    std::mutex mutex_;
    std::condition_variable check_done_;
    std::unordered_map<std::string, int> checks_in_flight_;
    RecentKeys sessions_, dovecot_smtp_, postfix_smtp_;
};

struct DovecotAnswer {
    int status = 0; // -1 refuse, 0 allow, N > 0 seconds of delay
    std::string message;
};

class Service {
  public:
    Service(const Config& config, Store& store, Logger& logger, SessionMemory& memory);
    // The text after "action=": DUNNO, REJECT ..., DEFER_IF_PERMIT ...
    std::string answer_postfix(const PostfixRequest& request);
    DovecotAnswer answer_dovecot(const DovecotRequest& request);

  private:
    std::string postfix_login(const std::string& user, const PostfixRequest& request,
                              const std::string& address);
    std::string postfix_message(const std::string& sender, const PostfixRequest& request);
    const Config& config_;
    Store& store_;
    Logger& logger_;
    SessionMemory& memory_;
    Guard guard_;
};

// The action for a message-time decision; "DUNNO" lets it pass.
std::string postfix_action(const Decision& decision);

} // namespace authguard::policy
