// policy/service.cpp - Postfix and Dovecot policy requests judged by the
// same Guard as the qmail hooks (see service.hpp).
//
// Postfix: a login counts once per SMTP connection (Postfix asks once per
// recipient, and its `instance` changes with every mail transaction), then
// every request is a message-time check, as authguard-spp's [mail], [rcpt]
// and [data] sections. Dovecot: `allow` only looks at the lock (it comes
// twice per login, before and after the password check), `report` counts
// the login or the failure.
#include "authguard/policy/service.hpp"

#include "authguard/address.hpp"
#include "authguard/event.hpp"

#include <algorithm>
#include <charconv>

namespace authguard::policy {

namespace {

// Ends an SMTP login's check that SessionMemory was told of, however it ends.
struct SmtpLoginCheck {
    SmtpLoginCheck(SessionMemory& memory, const std::string& user, const std::string& address)
        : memory(memory), user(user), address(address) {}
    SmtpLoginCheck(const SmtpLoginCheck&) = delete;
    SmtpLoginCheck& operator=(const SmtpLoginCheck&) = delete;
    ~SmtpLoginCheck() { memory.smtp_login_check_done(user, address); }
    SessionMemory& memory;
    const std::string& user;
    const std::string& address;
};

constexpr std::size_t memory_capacity = 100000;
constexpr std::chrono::seconds memory_ttl{3600};

constexpr const char* locked_text = "this account is locked, ask your postmaster";

std::string canonical_address(std::string_view text) {
    if (auto a = parse_address(text)) return a->to_string();
    return std::string(unknown_address);
}

int count_attribute(std::string_view text) {
    int value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 0) return 0;
    return std::min(value, 1000000);
}

bool store_failure(const Decision& d) {
    return d.reason.rfind("store unavailable", 0) == 0;
}

bool refused_for_lock(const Decision& d) {
    return d.verdict == Verdict::lock || d.verdict == Verdict::refuse_locked;
}

// One TCP connection to Postfix's smtpd: the client's address and port and
// the server's. `instance` would count one login per mail transaction.
std::string session_key(const PostfixRequest& r, const std::string& user) {
    std::string key;
    for (std::string_view name :
         {"client_address", "client_port", "server_address", "server_port"}) {
        key += r.get(name);
        key += '|';
    }
    return key + user;
}

std::string user_address_key(const std::string& user, const std::string& address) {
    return user + '\0' + address;
}

// Dovecot's protocol names (imap, pop3, smtp, submission, lmtp, sieve) as
// the service of an event; anything else is cut to a word.
std::string service_of_protocol(std::string_view protocol) {
    std::string out;
    for (char c : protocol.substr(0, 16))
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') out += c;
    return out.empty() ? std::string("unknown") : out;
}

} // namespace

bool RecentKeys::insert(const std::string& key, std::chrono::steady_clock::time_point now) {
    expire(now);
    auto [it, added] = index_.try_emplace(key);
    if (!added) return false;
    order_.push_back({&it->first, now});
    it->second = std::prev(order_.end());
    while (order_.size() > capacity_)
        drop_oldest();
    return true;
}

void RecentKeys::drop_oldest() {
    index_.erase(index_.find(*order_.front().key)); // by iterator: the key dies with the node
    order_.pop_front();
}

bool RecentKeys::contains(const std::string& key, std::chrono::steady_clock::time_point now) {
    expire(now);
    return index_.count(key) != 0;
}

void RecentKeys::add(const std::string& key, std::chrono::steady_clock::time_point now) {
    expire(now);
    if (auto it = index_.find(key); it != index_.end()) {
        ++it->second->held;
        it->second->at = now;
        order_.splice(order_.end(), order_, it->second); // keeps `order_` oldest first
        return;
    }
    insert(key, now);
}

bool RecentKeys::take(const std::string& key, std::chrono::steady_clock::time_point now) {
    expire(now);
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    if (--it->second->held == 0) {
        order_.erase(it->second);
        index_.erase(it);
    }
    return true;
}

void RecentKeys::expire(std::chrono::steady_clock::time_point now) {
    while (!order_.empty() && now - order_.front().at >= ttl_)
        drop_oldest();
}

SessionMemory::SessionMemory()
    : sessions_(memory_capacity, memory_ttl), dovecot_smtp_(memory_capacity, memory_ttl),
      postfix_smtp_(memory_capacity, memory_ttl) {}

bool SessionMemory::first_request_of_session(const std::string& session) {
    std::lock_guard lock(mutex_);
    return sessions_.insert(session, std::chrono::steady_clock::now());
}

bool SessionMemory::smtp_login_counted_by_other(Side side, const std::string& user,
                                                const std::string& address) {
    std::unique_lock lock(mutex_);
    auto now = std::chrono::steady_clock::now();
    std::string key = user_address_key(user, address);
    RecentKeys& mine = side == Side::dovecot ? dovecot_smtp_ : postfix_smtp_;
    RecentKeys& other = side == Side::dovecot ? postfix_smtp_ : dovecot_smtp_;
    if (other.take(key, now)) {
        // The other side may still be in its store call (Dovecot's report
        // is not waited for: Postfix's RCPT can come while it locks).
        check_done_.wait_for(lock, std::chrono::seconds(2),
                             [&] { return checks_in_flight_.count(key) == 0; });
        return true;
    }
    // Where Postfix's SASL is not Dovecot's (or Dovecot's SMTP clients do
    // not ask us), the marks are never taken: they go after memory_ttl.
    mine.add(key, now);
    ++checks_in_flight_[key];
    return false;
}

void SessionMemory::smtp_login_check_done(const std::string& user, const std::string& address) {
    {
        std::lock_guard lock(mutex_);
        auto it = checks_in_flight_.find(user_address_key(user, address));
        if (it != checks_in_flight_.end() && --it->second <= 0) checks_in_flight_.erase(it);
    }
    check_done_.notify_all();
}

std::string postfix_action(const Decision& d) {
    switch (d.verdict) {
    case Verdict::lock:
    case Verdict::refuse_locked:
        return std::string("REJECT 5.7.1 ") + locked_text;
    case Verdict::reject:
        return "REJECT 5.7.1 sending limit reached";
    case Verdict::tempfail:
        return store_failure(d) ? "DEFER_IF_PERMIT 4.3.0 service temporarily unavailable"
                                : "DEFER_IF_PERMIT 4.7.1 sending limit reached, try later";
    case Verdict::allow:
    case Verdict::alert:
        return "DUNNO";
    }
    return "DUNNO";
}

Service::Service(const Config& config, Store& store, Logger& logger, SessionMemory& memory)
    : config_(config), store_(store), logger_(logger), memory_(memory),
      guard_(config, store, logger) {}

std::string Service::answer_postfix(const PostfixRequest& request) {
    if (request.get("request") != "smtpd_access_policy") {
        logger_.write(Logger::Level::warning,
                      "policyd postfix: not a smtpd_access_policy request (request=" +
                          escape_word_for_log(request.get("request")) + "): DUNNO");
        return "DUNNO";
    }
    std::string address = canonical_address(request.get("client_address"));
    std::string_view raw_user = request.get("sasl_username");
    if (raw_user.empty()) {
        const Thresholds& t = config_.defaults;
        if (t.relay_max_messages_short > 0 || t.relay_max_recipients_short > 0 ||
            t.relay_max_recipients_long > 0)
            return postfix_message("relay:" + address, request);
        return "DUNNO";
    }
    std::string user;
    if (auto why = normalize_user(raw_user, config_, user); !why.empty()) {
        // Postfix has authenticated it: a name our hooks would refuse is the
        // SASL backend's business, not a reason to stop the mail.
        logger_.write(Logger::Level::warning,
                      "policyd postfix: user=" + escape_word_for_log(raw_user) +
                          " not judged: " + why);
        return "DUNNO";
    }
    if (memory_.first_request_of_session(session_key(request, user))) {
        std::string action = postfix_login(user, request, address);
        if (action != "DUNNO") return action;
    }
    return postfix_message(user, request);
}

std::string Service::postfix_login(const std::string& user, const PostfixRequest& request,
                                   const std::string& address) {
    // Dovecot, asked by Postfix's SASL, has reported this login already.
    if (memory_.smtp_login_counted_by_other(SessionMemory::Side::postfix, user, address))
        return "DUNNO";
    SmtpLoginCheck in_flight{memory_, user, address};
    Event event;
    event.user = user;
    event.address = address;
    event.time = event_time(config_);
    event.outcome = Outcome::success;
    event.service = service_for_port(request.get("server_port"));
    Decision d = guard_.check(event);
    if (refused_for_lock(d)) return std::string("REJECT 5.7.1 ") + locked_text;
    if (d.verdict == Verdict::tempfail)
        return store_failure(d) ? "DEFER_IF_PERMIT 4.3.0 service temporarily unavailable"
                                : "DEFER_IF_PERMIT 4.7.0 temporary authentication failure";
    return "DUNNO";
}

std::string Service::postfix_message(const std::string& sender, const PostfixRequest& request) {
    std::string_view state = request.get("protocol_state");
    int recipients = count_attribute(request.get("recipient_count"));
    Decision d;
    if (state == "RCPT") {
        // recipient_count: the recipients accepted before this one.
        d = guard_.check_message(sender, 0, 0, "postfix-rcpt", recipients + 1, 1);
    } else if (state == "END-OF-MESSAGE") {
        d = guard_.check_message(sender, 1, recipients, "postfix-eom");
    } else if (state == "DATA") {
        d = guard_.check_message(sender, 0, 0, "postfix-data", recipients, 1);
    } else {
        d = guard_.check_message(sender, 0, 0, "postfix-mail", 0, state == "MAIL" ? 1 : 0);
    }
    return postfix_action(d);
}

DovecotAnswer Service::answer_dovecot(const DovecotRequest& request) {
    std::string user;
    if (auto why = normalize_user(request.login, config_, user); !why.empty()) {
        logger_.write(Logger::Level::warning,
                      "policyd dovecot: login=" + escape_word_for_log(request.login) +
                          " not judged: " + why);
        return {};
    }
    std::string address = canonical_address(request.remote);
    if (request.command == DovecotCommand::allow) {
        // A refused allow ends the login (Dovecot sends no second allow):
        // it is counted once, as an attempt after the lock.
        Event event;
        event.user = user;
        event.address = address;
        event.time = event_time(config_);
        event.service = service_of_protocol(request.protocol);
        Decision d = guard_.check_before_password(event);
        if (refused_for_lock(d)) return {-1, locked_text};
        // on-store-failure = tempfail: Dovecot has no "try later"; a delay
        // slows a guessing client while the store is away.
        if (d.verdict == Verdict::tempfail && store_failure(d)) return {5, ""};
        return {};
    }
    // report: the password check is over.
    if (!request.success) return {};
    Event event;
    event.user = user;
    event.address = address;
    event.time = event_time(config_);
    event.service = service_of_protocol(request.protocol);
    CheckOptions how;
    if (*request.success) {
        event.outcome = Outcome::success;
        // Dovecot let it in before reporting; the next allow refuses.
        how.already_let_in = true;
    } else if (request.policy_reject.value_or(false)) {
        return {}; // refused by our own allow: logged there, not a failure
    } else {
        event.outcome = Outcome::bad_password;
        // Dovecot's pwhash (auth_policy_hash_nonce) in place of the keyed
        // fingerprint authguard-checkpw makes.
        event.fingerprint = pwhash_value(request.pwhash);
    }
    // Postfix SASL through Dovecot: Postfix's request for the same login
    // may come first, or while this check runs. Marked before the store
    // call, not after: a lock or a notification (the slow checks) left a
    // window where Postfix's request counted the login a second time.
    bool smtp = *request.success && event.service == "smtp";
    if (smtp && memory_.smtp_login_counted_by_other(SessionMemory::Side::dovecot, user, address))
        return {};
    std::optional<SmtpLoginCheck> in_flight;
    if (smtp) in_flight.emplace(memory_, user, address);
    Decision d = guard_.check(event, how);
    if (refused_for_lock(d)) return {-1, locked_text};
    return {};
}

} // namespace authguard::policy
