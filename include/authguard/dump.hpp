// dump.hpp - one user's state as a line of authguardctl export / import:
//   {"user":"alice@example.com",
//    "observations":[{"kind":"success","address":"192.0.2.1","first":T,"last":T,
//                     "count":N[,"fingerprint":F]},...],
//    "dropped":N,"observations_ttl":S,
//    "lock":{"since":T,"until":T,"reason":"...","evidence":"...",
//            "attempts_after":N,"last_attempt":T,"ttl":S} or null,
//    "rate":{"s<n>m":N,...},"rate_ttl":S,
//    "marks":{"<follower>":"<token>",...},"rate_marks":{...}}
// (marks: where each log follower stands, see authguardctl follow; absent in
// older exports). A *_ttl is the seconds the key has left (0: none), so that
// a copy ages as the original would, whichever clock the other store runs
// on. Strings may hold any bytes (json.hpp).
#pragma once

#include "authguard/store.hpp"

#include <string>
#include <string_view>

namespace authguard {

// One line as export writes it (no newline).
std::string format_dump(const UserDump& dump);

// One line of an export file. Throws std::runtime_error (json::ParseError
// for bad JSON) naming what is wrong; a line that parses may be restored.
UserDump parse_dump(std::string_view line);

} // namespace authguard
