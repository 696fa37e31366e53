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

namespace authguard {

// True when a user whose history holds no more than these (successful wide
// networks, successful addresses, failing wide networks) cannot reach any
// threshold of `t`: decide() would allow. Lets a replay skip the detector
// for the many quiet users of a large log.
bool below_every_threshold(const Thresholds& t, int success_wide_networks, int success_addresses,
                           int failing_wide_networks);

// One event through the detector, as Guard::check would (see above). The
// event's user must be normalised and its time set. With `quiet` the caller
// vouches (below_every_threshold over everything the user did so far) that
// the detector would allow, and it is not run; the store still records.
Decision replay_check(const Config& config, MemoryStore& store, const Event& event,
                      bool quiet = false);

} // namespace authguard
