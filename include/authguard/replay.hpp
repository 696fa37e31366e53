// replay.hpp - events from a log judged as the live guard would have judged
// them, in memory and in silence (authguardctl scan and report).
//
// Guard::check (guard.hpp) is the live pipeline: it logs every decision to
// syslog and notifies the admin. A replay of last month's log must do
// neither, so this is the same sequence - allowlisted user, allowlisted
// network (recorded read-only), temporary failures not counted, the record,
// decide(), the lock stored - against a MemoryStore, without the log line
// and the notification.
#pragma once

#include "authguard/config.hpp"
#include "authguard/detector.hpp"
#include "authguard/event.hpp"
#include "authguard/memory_store.hpp"

#include <optional>

namespace authguard {

// True when a user whose history holds no more than these (successful wide
// networks, successful addresses, failing wide networks) cannot reach any
// threshold of `t`: decide() would allow. Lets a replay skip the detector
// for the many quiet users of a large log.
bool below_every_threshold(const Thresholds& t, int success_wide_networks, int success_addresses,
                           int failing_wide_networks);

// The same as limits, for a caller that checks many events of one user:
// below every threshold when each count is less than its limit.
struct QuietLimits {
    int success_wide_networks = 0, success_addresses = 0, failing_wide_networks = 0;
    bool below(int wides, int addresses, int failing) const {
        return wides < success_wide_networks && addresses < success_addresses &&
               failing < failing_wide_networks;
    }
};
QuietLimits quiet_limits(const Thresholds& t);

// What the caller of replay_check may know already (a scan of a large log
// calls it for every login).
struct ReplayHints {
    // The caller vouches (below_every_threshold over the user's history so
    // far, this event included) that the detector would allow: it is not
    // run; the store still records.
    bool quiet = false;
    // config.address_allowed(event.address), when already known.
    std::optional<bool> address_allowed;
    // The server let the login in (a log of what happened: scan, as follow
    // sees it live): a refusing verdict does not take it back. Left false,
    // the replay is of the guard at AUTH, where a refused login never got
    // in (traffic-gen --measure).
    bool already_let_in = false;
    // The caller's cache of network keys, kept across calls (decide()).
    NetworkKeyCache* keys = nullptr;
};

// One event through the detector, as Guard::check would (see above). The
// event's user must be normalised and its time set.
Decision replay_check(const Config& config, MemoryStore& store, const Event& event,
                      const ReplayHints& hints = {});

} // namespace authguard
