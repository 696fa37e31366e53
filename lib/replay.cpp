// replay.cpp - Guard::check's sequence on a MemoryStore, without logging or
// notifying (see replay.hpp).
#include "authguard/replay.hpp"

#include <algorithm>

namespace authguard {

QuietLimits quiet_limits(const Thresholds& t) {
    // Events from logs carry no password fingerprints, so the replay
    // thresholds (tempfail-replay-networks) are never reached either.
    QuietLimits q;
    q.success_wide_networks =
        std::min({t.lock_new_networks_short, t.lock_new_networks_long, t.alert_new_networks_long});
    // Networks new within one provider are never more than the addresses.
    q.success_addresses = std::min(t.alert_addresses_long, t.lock_provider_new_prefixes_short);
    q.failing_wide_networks = std::min(t.tempfail_failing_networks_short, t.alert_failing_networks_long);
    return q;
}

bool below_every_threshold(const Thresholds& t, int success_wide_networks, int success_addresses,
                           int failing_wide_networks) {
    return quiet_limits(t).below(success_wide_networks, success_addresses, failing_wide_networks);
}

Decision replay_check(const Config& config, MemoryStore& store, const Event& event,
                      const ReplayHints& hints) {
    Decision decision;
    if (config.user_allowed(event.user)) {
        decision.reason = "allowlisted user";
        return decision;
    }
    bool allowlisted = hints.address_allowed ? *hints.address_allowed
                                             : config.address_allowed(event.address);
    RecordOptions options;
    options.count = !allowlisted && event.outcome != Outcome::temporary_failure;
    std::int64_t now = 0;
    const History& history = store.record_in_place(event, options, now);

    Event judged = event;
    judged.time = now;
    bool take_back = options.count && !hints.already_let_in && event.outcome == Outcome::success;
    if (history.lock && history.lock->active(now)) {
        // decide() answers this before looking at anything else
        decision.verdict = Verdict::refuse_locked;
        decision.reason = "locked since " + std::to_string(history.lock->since) + ": " +
                          history.lock->reason;
        if (take_back) store.take_back_success(event.user, event.address);
        return decision;
    }
    if (hints.quiet) {
        if (allowlisted) decision.reason = "allowlisted network";
        return decision;
    }
    decision = decide(history, judged, config, hints.keys);
    if (allowlisted && decision.verdict != Verdict::refuse_locked) {
        decision.verdict = Verdict::allow;
        decision.reason = "allowlisted network";
    }
    if (take_back && refuses_login(decision.verdict))
        store.take_back_success(event.user, event.address);
    if (decision.verdict == Verdict::lock) {
        Lock lock{now, config.lock_expiry ? now + config.lock_expiry : 0, decision.reason,
                  decision.evidence, 0, now};
        store.set_lock(event.user, lock);
        decision.notify = false;
    }
    return decision;
}

} // namespace authguard
