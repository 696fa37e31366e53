// guard.cpp - the detector pipeline shared by every hook.
#include "authguard/guard.hpp"

#include "authguard/address.hpp"
#include "authguard/notify.hpp"
#include "authguard/smtp_env.hpp"

#include <cstdlib>
#include <ctime>

namespace authguard {

std::string normalize_user(std::string_view raw, const Config& config, std::string& out) {
    if (raw.empty()) return "empty user name";
    if (raw.size() > config.max_user_length)
        return "user name longer than " + std::to_string(config.max_user_length) + " bytes";
    for (unsigned char c : raw)
        if (c < 0x20 || c == 0x7f) return "control character in user name";
    // The user's keys share the hash tag {user}; "{}..." would be an empty
    // tag, which Redis Cluster ignores, scattering the keys over slots.
    if (raw.front() == '}') return "user name starting with }";
    out.assign(raw);
    if (config.lowercase_users)
        for (auto& c : out)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return "";
}

std::int64_t event_time(const Config& config) {
    if (const char* now = std::getenv("AUTHGUARD_NOW"); now && *now) {
        char* end = nullptr;
        long long t = std::strtoll(now, &end, 10);
        if (end && *end == '\0' && t > 0) return t;
    }
    return config.clock_from_store ? 0 : static_cast<std::int64_t>(std::time(nullptr));
}

std::string client_address_from_env() {
    return client_address_from(process_env);
}

namespace {

// What a hook does when the store cannot be reached: on-store-failure.
Decision store_failure_decision(const Config& config) {
    Decision decision;
    bool tempfail = config.on_store_failure == Config::StoreFailure::tempfail;
    decision.verdict = tempfail ? Verdict::tempfail : Verdict::allow;
    decision.reason = std::string("store unavailable, ") + (tempfail ? "tempfail" : "fail-open");
    return decision;
}

} // namespace

Guard::Guard(const Config& config, Store& store, Logger& logger)
    : config_(config), store_(store), logger_(logger) {
    if (!config_.asn_db_problem.empty())
        logger_.write(config_.asn_table ? Logger::Level::warning : Logger::Level::error,
                      "asn-db: " + escape_for_log(config_.asn_db_problem, 512));
}

Decision Guard::check(Event event, const std::string& bind_session) {
    CheckOptions options;
    options.bind_session = bind_session;
    return check(std::move(event), options);
}

Decision Guard::check(Event event, const CheckOptions& how) {
    Decision decision;
    if (config_.user_allowed(event.user)) {
        decision.reason = "allowlisted user";
        log_decision(event, decision, "");
        return decision;
    }
    // An allowlisted network is never counted or judged (a locked account
    // stays locked); a temporary failure is the server's problem, not a
    // sign of attack, so it is not counted either.
    bool allowlisted = config_.address_allowed(event.address);
    bool count = !allowlisted && event.outcome != Outcome::temporary_failure && !how.recorded;

    RecordResult result;
    try {
        RecordOptions options;
        options.count = count;
        if (event.outcome == Outcome::success) options.bind_session = how.bind_session;
        options.session_ttl = config_.session_ttl;
        options.mark = how.mark;
        result = store_.record(event, options);
    } catch (const StoreError& e) {
        decision = store_failure_decision(config_);
        log_decision(event, decision, e.what());
        return decision;
    }
    event.time = result.now;
    decision = decide(result.history, event, config_);
    if (allowlisted && decision.verdict != Verdict::refuse_locked) {
        decision.verdict = Verdict::allow;
        decision.reason = "allowlisted network";
    }

    std::string note = result.note; // e.g. Redis full: read, not recorded
    if (count && !how.already_let_in && event.outcome == Outcome::success &&
        refuses_login(decision.verdict)) {
        try {
            store_.take_back_success(event.user, event.address);
        } catch (const StoreError& e) {
            note = std::string("refused login still counted as known: ") + e.what();
        }
    }
    if (decision.verdict == Verdict::lock) {
        Lock lock{event.time, config_.lock_expiry ? event.time + config_.lock_expiry : 0,
                  decision.reason, decision.evidence, 0, event.time};
        try {
            if (store_.set_lock(event.user, lock)) {
                auto failed = notify_lock(
                    config_, event.user,
                    lock_message(config_, event.user, lock.reason, lock.evidence, lock.since));
                if (!failed.empty()) note = "cannot start " + failed;
            }
            decision.notify = false; // done, and only by the process that set the lock
        } catch (const StoreError& e) {
            note = std::string("lock not stored: ") + e.what(); // this login is refused anyway
        }
    }
    if (decision.notify) {
        auto failed = notify_admin(
            config_, "authguard alert for " + escape_for_log(event.user, 200),
            alert_message(config_, event.user, decision.reason, decision.evidence, event.time));
        if (!failed.empty()) note = "cannot start " + failed;
    }
    log_decision(event, decision, note);
    return decision;
}

Decision Guard::check_before_password(const Event& event) {
    Decision decision;
    if (config_.user_allowed(event.user)) return decision;
    std::string line;
    try {
        // An allowlisted network is not counted, as in check(); a locked
        // account stays locked there too.
        LockAttempt attempt =
            store_.attempt_on_lock(event.user, event.time, !config_.address_allowed(event.address));
        if (!attempt.lock) return decision;
        decision.verdict = Verdict::refuse_locked;
        decision.reason =
            "locked since " + std::to_string(attempt.lock->since) + ": " + attempt.lock->reason;
        line = " time=" + std::to_string(attempt.now) +
               " attempts_after=" + std::to_string(attempt.lock->attempts_after);
    } catch (const StoreError& e) {
        decision = store_failure_decision(config_);
        line = " note=\"" + escape_for_log(e.what(), 256) + "\"";
    }
    // outcome=unchecked: the password was not checked; scan does not count
    // the line as a login.
    logger_.write(
        decision.verdict == Verdict::refuse_locked ? Logger::Level::warning : Logger::Level::error,
        std::string(to_string(decision.verdict)) + " user=" + escape_word_for_log(event.user) +
            " address=" + escape_word_for_log(event.address, 64) +
            " service=" + escape_word_for_log(event.service, 32) + " outcome=unchecked" + line +
            " reason=\"" + escape_for_log(decision.reason, 256) + "\"");
    return decision;
}

Decision Guard::check_message(const std::string& sender, int messages, int recipients,
                             std::string_view context, int pending_recipients,
                             int pending_messages) {
    MessageCheck check;
    check.time = event_time(config_);
    check.messages = messages;
    check.recipients = recipients;
    check.pending_messages = pending_messages;
    check.pending_recipients = pending_recipients;
    check.context = context;
    return judge_message(sender, check);
}

Decision Guard::check_logged_message(const std::string& sender, std::int64_t time, int messages,
                                     int recipients, const FeedMark& mark) {
    MessageCheck check;
    check.time = time;
    check.messages = messages;
    check.recipients = recipients;
    check.context = "follow";
    check.mark = &mark;
    return judge_message(sender, check);
}

Decision Guard::judge_message(const std::string& sender, const MessageCheck& check) {
    Decision decision;
    MessageCounts counts;
    std::string note;
    int messages = check.messages, recipients = check.recipients;
    try {
        counts = store_.count_message(sender, check.time, messages, recipients, check.mark);
        counts.recipients_short += check.pending_recipients;
        counts.recipients_long += check.pending_recipients;
        counts.messages_short += check.pending_messages;
        decision = decide_message(counts, sender, config_);
        decision.time = counts.now;
    } catch (const StoreError& e) {
        decision = store_failure_decision(config_);
        note = e.what();
    }
    // A look (messages == 0) that changes nothing is not worth a log line.
    if (messages == 0 && decision.verdict == Verdict::allow && note.empty()) return decision;
    if (check.pending_recipients > 0) recipients = check.pending_recipients;
    std::string line = std::string(to_string(decision.verdict)) + " " +
                       std::string(check.context) + " sender=" + escape_word_for_log(sender) +
                       " recipients=" + std::to_string(recipients) +
                       " time=" + std::to_string(counts.now) +
                       " messages_short=" + std::to_string(counts.messages_short) +
                       " recipients_short=" + std::to_string(counts.recipients_short) +
                       " recipients_long=" + std::to_string(counts.recipients_long);
    if (!decision.reason.empty()) line += " reason=\"" + escape_for_log(decision.reason, 256) + "\"";
    if (!note.empty()) line += " note=\"" + escape_for_log(note, 256) + "\"";
    logger_.write(decision.verdict == Verdict::allow ? Logger::Level::info
                  : note.empty()                     ? Logger::Level::warning
                                                     : Logger::Level::error,
                  line);
    return decision;
}

void Guard::take_back_message(const std::string& sender, const Decision& counted, int messages,
                              int recipients, std::string_view context, std::string_view why) {
    // A store failure at the count (time 0) counted nothing to take back.
    std::string line = "not-counted " + std::string(context) +
                       " sender=" + escape_word_for_log(sender) +
                       " recipients=" + std::to_string(recipients);
    Logger::Level level = Logger::Level::warning;
    if (counted.time > 0) {
        try {
            MessageCounts counts =
                store_.take_back_message(sender, counted.time, messages, recipients);
            line += " time=" + std::to_string(counted.time) +
                    " messages_short=" + std::to_string(counts.messages_short) +
                    " recipients_short=" + std::to_string(counts.recipients_short) +
                    " recipients_long=" + std::to_string(counts.recipients_long);
        } catch (const StoreError& e) {
            line += " note=\"still counted: " + escape_for_log(e.what(), 256) + "\"";
            level = Logger::Level::error;
        }
    }
    logger_.write(level, line + " reason=\"" + escape_for_log(why, 512) + "\"");
}

void Guard::log_decision(const Event& event, const Decision& d, std::string_view note) {
    const Signals& s = d.signals;
    std::string line =
        std::string(to_string(d.verdict)) + " user=" + escape_word_for_log(event.user) +
        " address=" + escape_word_for_log(event.address, 64) +
        " service=" + escape_word_for_log(event.service, 32) +
        " outcome=" + std::string(to_string(event.outcome)) +
        " time=" + std::to_string(event.time) +
        " nets_short=" + std::to_string(s.short_window.wide_networks) +
        " nets_long=" + std::to_string(s.long_window.wide_networks) +
        " new_nets_short=" + std::to_string(s.short_window.new_wide_networks) +
        " new_nets_long=" + std::to_string(s.long_window.new_wide_networks) +
        " provider_new_prefixes_short=" + std::to_string(s.short_window.provider_new_prefixes) +
        " addresses_long=" + std::to_string(s.long_window.addresses) +
        " failing_nets_long=" + std::to_string(s.long_window.failing_wide_networks) +
        " replay_nets=" + std::to_string(s.replay_networks);
    if (!d.reason.empty()) line += " reason=\"" + escape_for_log(d.reason, 256) + "\"";
    if (!note.empty()) line += " note=\"" + escape_for_log(note, 256) + "\"";
    auto level = d.verdict == Verdict::allow && note.empty() ? Logger::Level::info
                 : d.reason.rfind("store unavailable", 0) == 0 ? Logger::Level::error
                                                                 : Logger::Level::warning;
    logger_.write(level, line);
}

} // namespace authguard
