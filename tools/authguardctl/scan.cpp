// scan.cpp - mail logs into per-user summaries (see scan.hpp): the line
// parser (authguard/logscan.hpp), de-duplication of logins logged twice,
// attribution of qmail-send's messages to the user who submitted them, the
// sliding windows, and the replay through the detector.
#include "scan.hpp"

#include "flat_map.hpp"

#include "authguard/address.hpp"
#include "authguard/asn/table.hpp"
#include "authguard/guard.hpp"
#include "authguard/hash.hpp"
#include "authguard/memory_store.hpp"
#include "authguard/replay.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace authguardctl {

namespace ag = authguard;
namespace ls = authguard::logscan;

std::uint64_t ScanTotals::skipped_total() const {
    std::uint64_t n = 0;
    for (auto v : skipped)
        n += v;
    return n;
}

int severity(ag::Verdict verdict) {
    switch (verdict) {
    case ag::Verdict::allow:
        return 0;
    case ag::Verdict::alert:
        return 1;
    case ag::Verdict::tempfail:
        return 2;
    case ag::Verdict::reject:
        return 3;
    case ag::Verdict::lock:
    case ag::Verdict::refuse_locked:
        return 4;
    }
    return 0;
}

namespace {

constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
constexpr std::int64_t hour = 3600, day = 86400;
// Two log lines of one login (vchkpw's and authguard's, or qmail-smtpd's)
// are at most this far apart.
constexpr std::int64_t pairing_window = 30;
// qmail-send keeps a message at most this long (queuelifetime, 7 days).
constexpr std::int64_t queue_lifetime = 8 * day;

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class Value>
using StringMap = std::unordered_map<std::string, Value, StringHash, std::equal_to<>>;

// A place in a time-ordered list of distinct keys (addresses, networks).
// Per-pair times are kept in 32 bits (Unix seconds until 2106): the pairs
// are the scan's memory, and touched in no particular order.
using Stamp = std::uint32_t;
inline Stamp stamp(std::int64_t t) {
    return static_cast<Stamp>(std::clamp<std::int64_t>(t, 0, std::numeric_limits<Stamp>::max()));
}

struct WindowLinks {
    Stamp seen = 0;
    std::uint32_t prev = none, next = none;
    bool listed = false;
};

// The distinct keys seen within the last hour and the last day, and the
// most there ever were: one list ordered by when each key was last seen,
// the day's window from its head, the hour's from `hour_front_`.
class SlidingWindows {
  public:
    template <class Slot> void touch(std::vector<Slot>& slots, std::uint32_t i, std::int64_t t) {
        auto link = [&](std::uint32_t k) -> WindowLinks& { return slots[k].window; };
        newest_ = std::max(newest_, t);
        WindowLinks& w = link(i);
        if ((w.listed && w.seen >= t) || t < newest_ - day) {
            evict(slots);
            return;
        }
        if (w.listed && i == tail_ && t >= newest_) {
            // The key seen last is seen again (a client polling): it stays
            // last, and nothing else in the list needs to be looked at.
            w.seen = stamp(t);
            if (i == head_) head_seen_ = w.seen;
            if (hour_front_ == none) {
                hour_front_ = i;
                ++in_hour_;
            }
            if (hour_front_ == i) hour_seen_ = w.seen;
            evict(slots);
            return;
        }
        if (w.listed) {
            bool in_hour = hour_front_ != none && w.seen >= hour_seen_;
            if (in_hour) --in_hour_;
            --in_day_;
            if (hour_front_ == i) hour_front_ = w.next;
            unlink(slots, i);
        }
        w.seen = stamp(t);
        std::uint32_t p = tail_;
        while (p != none && link(p).seen > t)
            p = link(p).prev;
        // insert after p (at the head when p is none)
        w.prev = p;
        w.next = p == none ? head_ : link(p).next;
        if (w.next != none)
            link(w.next).prev = i;
        else
            tail_ = i;
        if (p != none)
            link(p).next = i;
        else
            head_ = i;
        w.listed = true;
        ++in_day_;
        if (t >= newest_ - hour) {
            ++in_hour_;
            if (hour_front_ == none || link(hour_front_).seen > t) hour_front_ = i;
        }
        head_seen_ = head_ == none ? 0 : link(head_).seen;
        hour_seen_ = hour_front_ == none ? 0 : link(hour_front_).seen;
        evict(slots);
    }
    int max_hour() const { return max_hour_; }
    int max_day() const { return max_day_; }
    // Keys seen within the day before the newest time (an upper bound
    // until the next touch: leaving keys are only dropped then).
    int in_day() const { return in_day_; }
    std::int64_t newest() const { return newest_; }

  private:
    template <class Slot> void unlink(std::vector<Slot>& slots, std::uint32_t i) {
        WindowLinks& w = slots[i].window;
        if (w.prev != none)
            slots[w.prev].window.next = w.next;
        else
            head_ = w.next;
        if (w.next != none)
            slots[w.next].window.prev = w.prev;
        else
            tail_ = w.prev;
        w.prev = w.next = none;
        w.listed = false;
    }
    // Drops what left the windows. The seen times of the head and the
    // hour's front are kept here, so that nothing else is looked at while
    // nothing leaves.
    template <class Slot> void evict(std::vector<Slot>& slots) {
        while (hour_front_ != none && std::int64_t{hour_seen_} < newest_ - hour) {
            hour_front_ = slots[hour_front_].window.next;
            hour_seen_ = hour_front_ == none ? 0 : slots[hour_front_].window.seen;
            --in_hour_;
        }
        while (head_ != none && std::int64_t{head_seen_} < newest_ - day) {
            unlink(slots, head_);
            head_seen_ = head_ == none ? 0 : slots[head_].window.seen;
            --in_day_;
        }
        max_hour_ = std::max(max_hour_, in_hour_);
        max_day_ = std::max(max_day_, in_day_);
    }

    std::uint32_t head_ = none, tail_ = none, hour_front_ = none;
    Stamp head_seen_ = 0, hour_seen_ = 0; // slots[head_] and slots[hour_front_]'s seen
    int in_hour_ = 0, in_day_ = 0, max_hour_ = 0, max_day_ = 0;
    std::int64_t newest_ = std::numeric_limits<std::int64_t>::min();
};

// One client address, parsed once for the whole scan.
struct AddressInfo {
    std::string text;          // canonical, or "unknown"
    std::uint32_t network = 0; // dense network ids (Impl::network_keys)
    std::uint32_t wide = 0;
    bool allowlisted = false; // control/authguard-allow
};

// What the detector's store holds for one (user, address, kind): the
// observation record() would have made (see UserState::in_store).
struct StoredObservation {
    Stamp first = 0, last = 0;
    std::uint32_t count = 0;
    std::uint32_t order = 0; // when it was created: the store keeps that order
};

struct AddressSlot { // one (user, address) pair
    std::uint32_t address = 0;
    std::uint32_t order = 0; // its place among the user's addresses, first seen first
    Stamp first = 0, last = 0, first_success = 0;
    std::uint32_t successes = 0, failures = 0;
    std::uint32_t wide = 0;   // its WideSlot
    bool allowlisted = false; // the address is in control/authguard-allow
    WindowLinks window;
    StoredObservation stored[2]; // success, failure
};

struct WideSlot { // one (user, wide network) pair
    bool failed = false;
    WindowLinks window;
    // Its successful addresses (0: none yet): how many, and the place of
    // the first seen of them among the user's addresses (AddressSlot::order),
    // for the user's busiest network.
    std::uint32_t success_addresses = 0, first_order = none;
};

struct UserState {
    // What every login touches comes first, in a few adjacent cache lines.
    SlidingWindows address_windows, wide_windows;
    std::uint32_t last_address = none, last_pair = 0; // the pair of the user's last login
    // The last login line's address as logged (when short) and its id. Not
    // last_address: a line left out as a duplicate sets these but not that.
    char last_raw[15] = {};
    std::uint8_t last_raw_length = 0;
    std::uint32_t last_raw_address = none;
    std::uint32_t service_bits = 0; // Impl::service_names seen (the first 32)
    bool allowlisted = false;       // control/authguard-allow: never judged
    // A quiet user's logins are not replayed through the store one by one:
    // their observations are kept in the address slots (stored[]), as the
    // store would hold them, and handed to the store the first time the
    // detector has to look (a login that is not quiet, or one that would
    // make the store evict). From then on every login is replayed.
    bool in_store = false;
    bool timeline = false;
    std::uint32_t stored_observations = 0, stored_order = 0;
    std::int64_t stored_expire = 0; // when the store would forget them (known-period)
    ag::QuietLimits quiet;          // below these the detector would allow (replay.hpp)
    UserSummary summary;
    std::vector<std::uint32_t> address_slots; // into Impl::pairs, first seen first
    // The WideSlot with the most successful addresses, the one whose first
    // is seen first among equals (none: no success yet). Kept as logins
    // come: looking it up at the end read every pair of every user again.
    std::uint32_t busiest_wide = none;
    std::map<std::int64_t, HourSummary> hours;
};

// A login waiting for its second log line (see pairing_window).
struct RecentLogin {
    std::int64_t time;
    std::uint32_t user, address;
    ag::Outcome outcome;
    ls::Source source;
    bool paired;
};

// The logins of the last pairing_window, oldest first: a ring that grows
// to the busiest half minute and is then reused (a deque would allocate
// and free a block every few logins).
class RecentLogins {
  public:
    bool empty() const { return count_ == 0; }
    std::size_t size() const { return count_; }
    RecentLogin& front() { return ring_[first_]; }
    void pop_front() {
        first_ = (first_ + 1) & mask_;
        --count_;
    }
    void push_back(const RecentLogin& login) {
        if (count_ == ring_.size()) grow();
        ring_[(first_ + count_) & mask_] = login;
        ++count_;
    }
    // The k-th newest (0: the newest).
    RecentLogin& newest(std::size_t k) { return ring_[(first_ + count_ - 1 - k) & mask_]; }

  private:
    void grow() {
        std::vector<RecentLogin> bigger(ring_.empty() ? 64 : ring_.size() * 2);
        for (std::size_t k = 0; k < count_; ++k)
            bigger[k] = ring_[(first_ + k) & mask_];
        ring_ = std::move(bigger);
        mask_ = ring_.size() - 1;
        first_ = 0;
    }
    std::vector<RecentLogin> ring_; // a power of two in size
    std::size_t mask_ = 0;          // its size - 1 (kept: the size is a division)
    std::size_t first_ = 0, count_ = 0;
};

struct InFlightMessage {
    std::uint32_t user;
    std::uint32_t deferrals; // recipients to be tried again: not new ones
    std::int64_t time;
};

// A delivery qmail-send started, for telling a deferral's message; kept in
// a table indexed by the delivery number: qmail-send numbers them in
// sequence and has at most a few hundred under way.
struct Delivery {
    std::uint64_t delivery = ~std::uint64_t{0};
    std::uint64_t msg = 0;
};
constexpr std::size_t delivery_slots = 1 << 16;

struct SmtpSession {
    std::uint32_t user, address;
    std::int64_t time;
    ag::Outcome outcome;
};

// A login line's text seen before, and what it meant. A mail client
// polling logs the same text again and again, but for the time and the
// pid; such a line is then told by one hash and one comparison instead of
// being parsed and its user and address looked up.
struct KnownLogin {
    static constexpr std::size_t capacity = 104; // the text after the tag
    std::uint64_t hash = 0;                      // 0: an empty entry
    std::uint8_t tag = 0;                        // the index of its tag in Impl::login_tags
    std::uint8_t length = 0;                     // of the text
    ag::Outcome outcome = ag::Outcome::success;
    std::uint32_t user = 0, address = 0, service = 0;
    char text[capacity];
};
static_assert(sizeof(KnownLogin) == 128);       // two cache lines
constexpr std::size_t known_login_slots = 4096; // 512 KiB; a miss only costs a parse

std::uint64_t pair_key(std::uint32_t a, std::uint32_t b) {
    return (std::uint64_t{a} << 32) | b;
}

// A name's or a login line's text's hash (FlatMap keys: never its empty key).
std::uint64_t name_hash(std::string_view bytes) {
    return ag::table_hash(bytes) & ~(std::uint64_t{1} << 63);
}

// A canonical dotted quad ("192.0.2.1": no leading zeros) and its value;
// false for anything else (which then takes the general, slower path).
bool canonical_ipv4(std::string_view text, std::uint32_t& value) {
    if (text.size() < 7 || text.size() > 15) return false;
    std::uint32_t v = 0;
    std::size_t i = 0;
    for (int octet = 0; octet < 4; ++octet) {
        if (octet > 0) {
            if (i >= text.size() || text[i] != '.') return false;
            ++i;
        }
        std::size_t start = i;
        unsigned n = 0;
        while (i < text.size() && i - start < 3 && text[i] >= '0' && text[i] <= '9')
            n = n * 10 + static_cast<unsigned>(text[i++] - '0');
        std::size_t digits = i - start;
        if (digits == 0 || n > 255 || (digits > 1 && text[start] == '0')) return false;
        v = (v << 8) | n;
    }
    if (i != text.size()) return false;
    value = v;
    return true;
}

// "a.b.c.d/prefix" without printf: IPv4 networks are printed often.
std::string ipv4_network_text(std::uint32_t value, int prefix) {
    std::string out;
    for (int shift = 24; shift >= 0; shift -= 8) {
        out += std::to_string((value >> shift) & 0xff);
        if (shift) out += '.';
    }
    return out + "/" + std::to_string(prefix);
}

// The tags of vchkpw's lines so far ("vpopmail", "vchkpw-pop3", ...): only
// their lines are looked for among the known logins. The reading thread of
// a threaded scan keeps its own, learning from the same lines in the same
// order, so that both agree on every index.
class LoginTags {
  public:
    // The tag's index; size() when it is not (yet) one of them.
    std::size_t index(std::string_view tag) const {
        std::size_t i = 0;
        while (i < tags_.size() && std::string_view(tags_[i]) != tag)
            ++i;
        return i;
    }
    // The known-login hash of a line's text after tag `index`; 0 when
    // the line cannot be a known login.
    std::uint64_t hash(std::size_t index, std::string_view body) const {
        if (index >= tags_.size() || body.size() > KnownLogin::capacity) return 0;
        return (name_hash(body) ^ index) | std::uint64_t{1} << 63; // (never 0)
    }
    // After the parse: a vchkpw login under a new tag makes it one, from
    // the next line on.
    void learn(std::size_t index, std::string_view tag, const ls::Line& line) {
        if (line.kind == ls::Kind::auth && line.auth.source == ls::Source::vchkpw &&
            index == tags_.size() && tags_.size() < 4 && !tag.empty())
            tags_.emplace_back(tag);
    }

  private:
    std::vector<std::string> tags_;
};

// A piece of a batch's bytes (LineBatch): offsets, not views, so that
// a line's record stays small.
struct Span {
    std::uint32_t at = 0, size = 0;
};

// One line as a threaded scan's reading thread hands it over: split, the
// known-login hash of its text worked out, and parsed unless the counting
// thread is to parse it (see read_batches), or its text was seen just
// before (then it is most likely a known login, and the counting thread
// parses it only if it is not). Kept small: every byte of it crosses from
// one core's cache to the other's.
struct HandedLine {
    std::int64_t time = 0;
    std::uint64_t login_hash = 0; // LoginTags::hash
    std::uint64_t number = 0;     // message: msg; auth: session
    std::uint64_t delivery = 0;   // message: delivery
    // unparsed: the head's tag, body and text; auth: user, address,
    // service; message: sender
    Span first, second, third;
    Span body;                  // parsed, with a login_hash: the head's body
    std::uint32_t tag = 0;      // LoginTags::index
    std::uint32_t attempts = 1; // auth
    ls::Kind kind = ls::Kind::ignored;
    ag::Outcome outcome = ag::Outcome::success;
    ls::Source source = ls::Source::vchkpw;
    bool parsed = false;
    bool remote = false, deferred = false; // message
};

// The login texts the reading thread saw last, by their hash alone: a
// hint, which the counting thread's known logins (whole texts) settle.
class SeenTexts {
  public:
    // True when `hash` was seen before (and is now remembered).
    bool seen(std::uint64_t hash) {
        std::uint64_t& slot = slots_[hash % slots_.size()];
        bool was = slot == hash;
        slot = hash;
        return was;
    }

  private:
    std::vector<std::uint64_t> slots_ = std::vector<std::uint64_t>(known_login_slots);
};

// Lines on their way from the reading thread to the counting one, with
// the bytes their spans point into: a block allocated once, never moved.
class LineBatch {
  public:
    // Handed over at this many bytes or lines (small enough to stay in
    // the caches; the lines are never grown).
    static constexpr std::size_t fill = 128 << 10, max_lines = 2048;
    // Room a line of n bytes may need: the line, and its unescaped fields
    // (each no longer than the line).
    static constexpr std::size_t room(std::size_t n) { return 4 * n + 64; }
    static constexpr std::size_t capacity = fill + 4 * max_log_line + 64; // room(max_log_line)

    // (Its memory touched here, by the thread that makes it.)
    LineBatch() : bytes_(std::make_unique<char[]>(capacity)) {
        lines.resize(max_lines);
        lines.clear();
    }
    bool has_room(std::size_t n) const { return used_ + room(n) <= capacity; }
    bool full() const { return used_ >= fill || lines.size() >= max_lines; }
    // A copy of `v` in the batch.
    Span copy(std::string_view v) {
        std::memcpy(bytes_.get() + used_, v.data(), v.size());
        Span span{static_cast<std::uint32_t>(used_), static_cast<std::uint32_t>(v.size())};
        used_ += v.size();
        return span;
    }
    // `v`, a view of `within` (which is at `within_at`), or else a copy.
    Span keep(std::string_view v, std::string_view within, Span within_at) {
        auto at = reinterpret_cast<std::uintptr_t>(v.data()),
             base = reinterpret_cast<std::uintptr_t>(within.data());
        if (v.empty()) return {};
        if (at >= base && at + v.size() <= base + within.size())
            return {within_at.at + static_cast<std::uint32_t>(at - base),
                    static_cast<std::uint32_t>(v.size())};
        return copy(v);
    }
    std::string_view view(Span span) const { return {bytes_.get() + span.at, span.size}; }
    // The bytes copied since `used` taken back (a line the counting
    // thread has no use for).
    void rewind(std::size_t used) { used_ = used; }
    std::size_t used() const { return used_; }
    void clear() {
        used_ = 0;
        lines.clear();
    }

    std::vector<HandedLine> lines;

  private:
    std::unique_ptr<char[]> bytes_;
    std::size_t used_ = 0;
};

// The hand-over between the two threads: full batches one way, emptied
// ones back (their memory reused: a fresh page costs a fault), at most
// `depth` in all, so the reader is never far ahead.
class BatchQueue {
  public:
    static constexpr std::size_t depth = 4;

    // The batches are made here, by the counting thread: from the heap
    // it has set up for the scan (huge pages), not a new thread's arena.
    BatchQueue() {
        for (std::size_t i = 0; i < depth; ++i)
            free_.push_back(std::make_unique<LineBatch>());
    }

    // The reader's next batch to fill; nullptr when the scan is stopping.
    std::unique_ptr<LineBatch> empty_batch() {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || !free_.empty(); });
        if (stopping_) return nullptr;
        auto batch = std::move(free_.back());
        free_.pop_back();
        return batch;
    }
    // Returns how many batches now wait for the counting thread.
    std::size_t hand_over(std::unique_ptr<LineBatch> batch) {
        std::lock_guard lock(mutex_);
        full_.push_back(std::move(batch));
        changed_.notify_all();
        return full_.size();
    }
    // The reader is done (or failed).
    void finish() {
        std::lock_guard lock(mutex_);
        finished_ = true;
        changed_.notify_all();
    }
    // The counter's next batch; nullptr when the reader is done and every
    // batch has been taken.
    std::unique_ptr<LineBatch> full_batch() {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return finished_ || !full_.empty(); });
        if (full_.empty()) return nullptr;
        auto batch = std::move(full_.front());
        full_.pop_front();
        return batch;
    }
    void give_back(std::unique_ptr<LineBatch> batch) {
        batch->clear();
        std::lock_guard lock(mutex_);
        free_.push_back(std::move(batch));
        changed_.notify_all();
    }
    // The counter stops early (an exception): the reader's wait ends.
    void stop() {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        changed_.notify_all();
    }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<std::unique_ptr<LineBatch>> full_;
    std::vector<std::unique_ptr<LineBatch>> free_;
    bool finished_ = false, stopping_ = false;
};

} // namespace

struct LogScan::Impl {
    const ag::Config& config;
    ScanOptions options;
    ls::Parser parser;
    ag::MemoryStore store;
    ScanTotals totals;

    StringMap<std::uint32_t> raw_addresses; // as logged -> id in addresses (none: not an address)
    StringMap<std::uint32_t> canonical_addresses;
    std::vector<AddressInfo> addresses;
    // Networks: an IPv4 network is its masked value and prefix (bit 62 set),
    // any other one its index in other_networks; network_keys holds them by
    // dense id.
    FlatMap<std::uint32_t> network_ids;
    std::vector<std::uint64_t> network_keys;
    StringMap<std::uint32_t> other_network_ids;
    std::vector<std::string> other_networks;
    FlatMap<std::uint32_t> provider_networks; // AS number -> dense network id ("AS17676")

    // A hash of the name -> id, checked against the name. A name whose hash
    // another name already has (rare) goes to colliding_user_ids instead:
    // a node and a copy of the name a user were a tenth of a scan of
    // brute-force names seen once.
    FlatMap<std::uint32_t> user_by_hash;
    StringMap<std::uint32_t> colliding_user_ids;
    // Names as logged -> user id, or bad_name / unwanted / none (no such
    // user yet: valid while users.size() is still `known_users`). Keyed by
    // a hash of the name, the name itself compared: one probe for the
    // names of every login and message.
    struct RawName {
        std::uint32_t text = 0, length = 0; // in raw_name_texts
        std::uint32_t id = 0;
        std::uint32_t known_users = 0;
    };
    FlatMap<RawName> raw_names;
    std::string raw_name_texts;            // one after the other: no allocation a name
    FlatMap<std::uint32_t> ipv4_addresses; // canonical dotted quads -> address id
    // A deque: users never move. A vector copied every user's state (600
    // bytes) into fresh pages at each doubling, and a log with many names
    // seen once (a brute-force run) spent most of its time there and in
    // the page faults.
    std::deque<UserState> users;
    std::string scratch_user;

    std::vector<AddressSlot> pairs;  // every (user, address)
    FlatMap<std::uint32_t> pair_ids; // (user, address) -> index in pairs
    std::vector<WideSlot> wides;     // every (user, wide network)
    FlatMap<std::uint32_t> wide_ids;
    FlatMap<bool> user_networks; // (user, network) with a success

    std::vector<std::string> service_names; // as logged: "submission", "pop3", ...

    std::uint32_t last_service = none; // service_id's last answer

    // The index of a service name in service_names (interned; a handful
    // in any log).
    std::uint32_t service_id(std::string_view service) {
        if (last_service != none && service_names[last_service] == service) return last_service;
        auto known = std::find(service_names.begin(), service_names.end(), service);
        if (known == service_names.end()) known = service_names.emplace(known, service);
        last_service = static_cast<std::uint32_t>(known - service_names.begin());
        return last_service;
    }
    static std::uint32_t service_bit(std::uint32_t id) { return id < 32 ? 1u << id : 0; }

    std::vector<KnownLogin> known_logins = std::vector<KnownLogin>(known_login_slots);
    LoginTags login_tags;
    // The text of the line being read while it may become a known login
    // (hash 0: it may not).
    struct LoginText {
        std::uint64_t hash = 0;
        std::uint8_t tag = 0;
        std::string_view text;
    } login_text;

    RecentLogins recent;
    unsigned sources_seen = 0;          // bit per Source
    FlatMap<SmtpSession> smtp_sessions; // by pid
    FlatMap<InFlightMessage> messages;  // by qmail-send's message number
    std::vector<Delivery> deliveries = std::vector<Delivery>(delivery_slots); // by delivery number
    std::int64_t next_cleanup = 0, next_purge = 0;
    ag::Event event; // reused for every replayed login
    // The detector's network keys of every address replayed (decide()
    // needs those of the user's whole history at every login).
    ag::NetworkKeyCache network_key_cache;
    ls::Line line_; // reused for every line
    // A threaded scan's: for the lines the reading thread left unparsed
    // (`parser` is the reader's meanwhile).
    ls::Parser body_parser;

    Impl(const ag::Config& c, ScanOptions o) : config(c), options(std::move(o)), store(c) {
        if (options.first_year > 0) parser.set_reference(0, options.first_year);
    }

    std::uint32_t dense_network(std::uint64_t key) {
        auto [id, fresh] =
            network_ids.try_emplace(key, static_cast<std::uint32_t>(network_keys.size()));
        if (fresh) network_keys.push_back(key);
        return *id;
    }

    std::uint32_t ipv4_network(std::uint32_t value, int prefix) {
        std::uint32_t mask = prefix <= 0 ? 0 : prefix >= 32 ? ~0u : ~0u << (32 - prefix);
        return dense_network((std::uint64_t{1} << 62) | (std::uint64_t(prefix) << 32) |
                             (value & mask));
    }

    std::uint32_t other_network(const std::string& name) {
        auto [it, fresh] =
            other_network_ids.try_emplace(name, static_cast<std::uint32_t>(other_networks.size()));
        if (fresh) other_networks.push_back(name);
        return dense_network(it->second);
    }

    std::uint32_t provider_network(std::uint32_t number) {
        if (std::uint32_t* id = provider_networks.find(number)) return *id;
        std::uint32_t id = other_network("AS" + std::to_string(number));
        provider_networks.try_emplace(number, id);
        return id;
    }

    // The wide network of an IPv4 address, exactly as network_keys() keys
    // it: its provider where the table has one, else its wide prefix. The
    // quiet-user shortcut (replay.hpp) bounds the detector's counts by the
    // wide networks counted here, so the two must never differ. Looked up
    // once per distinct address (address_id caches the answer).
    std::uint32_t ipv4_wide(std::uint32_t value) {
        if (config.asn_table) {
            ag::Address address;
            address.family = ag::Address::Family::v4;
            for (int i = 0; i < 4; ++i)
                address.bytes[static_cast<std::size_t>(i)] =
                    static_cast<std::uint8_t>(value >> (24 - 8 * i));
            if (auto provider = config.asn_table->lookup(address))
                return provider_network(provider->number);
        }
        return ipv4_network(value, config.ipv4_wide_prefix);
    }

    std::string network_name(std::uint32_t dense) const {
        std::uint64_t key = network_keys[dense];
        if (key >> 62 == 1)
            return ipv4_network_text(static_cast<std::uint32_t>(key),
                                     static_cast<int>((key >> 32) & 0xff));
        return other_networks[key];
    }

    // The address id of a logged address; none when it is no address.
    std::uint32_t address_id(std::string_view raw) {
        std::uint32_t value = 0;
        bool dotted = canonical_ipv4(raw, value);
        if (dotted) {
            if (std::uint32_t* id = ipv4_addresses.find(value)) return *id;
        } else if (auto it = raw_addresses.find(raw); it != raw_addresses.end()) {
            return it->second;
        }
        // New: IPv4 addresses are known by their value, others by their
        // canonical text (so "::ffff:192.0.2.1" is 192.0.2.1).
        std::string canonical;
        std::optional<std::uint32_t> v4;
        if (dotted) {
            v4 = value;
        } else if (raw.empty()) {
            canonical = std::string(ag::unknown_address);
        } else if (auto parsed = ag::parse_address(raw)) {
            if (parsed->family == ag::Address::Family::v4)
                v4 = (std::uint32_t{parsed->bytes[0]} << 24) |
                     (std::uint32_t{parsed->bytes[1]} << 16) |
                     (std::uint32_t{parsed->bytes[2]} << 8) | parsed->bytes[3];
            else
                canonical = parsed->to_string();
        } else {
            raw_addresses.emplace(std::string(raw), none);
            return none;
        }
        std::uint32_t id = static_cast<std::uint32_t>(addresses.size());
        bool fresh;
        if (v4) {
            auto [known, added] = ipv4_addresses.try_emplace(*v4, id);
            id = *known;
            fresh = added;
        } else {
            auto [known, added] = canonical_addresses.try_emplace(canonical, id);
            id = known->second;
            fresh = added;
        }
        if (fresh) {
            AddressInfo info;
            if (v4) {
                info.text = dotted ? std::string(raw) : ipv4_network_text(*v4, 32);
                if (!dotted) info.text.resize(info.text.size() - 3); // without "/32"
                info.network = ipv4_network(*v4, config.ipv4_net_prefix);
                info.wide = ipv4_wide(*v4);
            } else {
                info.text = canonical;
                auto keys = ag::network_keys(canonical, config); // the provider, as for IPv4
                info.network = other_network(keys.net);
                info.wide = other_network(keys.wide);
            }
            info.allowlisted = !config.allow_networks.empty() && config.address_allowed(info.text);
            addresses.push_back(std::move(info));
        }
        if (!dotted) raw_addresses.emplace(std::string(raw), id);
        return id;
    }

    // The user's id, created on first sight when `create`; none otherwise.
    std::uint32_t user_id(const std::string& name, bool create) {
        std::uint64_t h = std::hash<std::string_view>{}(name) & ~(std::uint64_t{1} << 63);
        if (options.colliding_name_hashes) h &= 3;
        std::uint32_t* by_hash = user_by_hash.find(h);
        if (by_hash && users[*by_hash].summary.user == name) return *by_hash;
        if (by_hash && !colliding_user_ids.empty())
            if (auto it = colliding_user_ids.find(name); it != colliding_user_ids.end())
                return it->second;
        if (!create) return none;
        auto id = static_cast<std::uint32_t>(users.size());
        if (by_hash)
            colliding_user_ids.emplace(name, id);
        else
            user_by_hash.try_emplace(h, id);
        UserState& u = users.emplace_back();
        u.summary.user = name;
        u.quiet = ag::quiet_limits(config.thresholds_for(name));
        u.allowlisted = config.user_allowed(name);
        u.timeline = options.timeline_users.count(name) > 0;
        return id;
    }

    static constexpr std::uint32_t bad_name = none - 1, unwanted = none - 2;

    // The user a logged name belongs to (normalised as the hooks do):
    // its id, created when `create`; none, bad_name or unwanted.
    std::uint32_t user_for(std::string_view raw, bool create) {
        std::uint64_t key = name_hash(raw);
        if (options.colliding_name_hashes) key &= 3;
        RawName* known = raw_names.find(key);
        bool same =
            known && std::string_view(raw_name_texts).substr(known->text, known->length) == raw;
        if (same && (known->id != none || (!create && known->known_users == users.size())))
            return known->id;
        std::uint32_t id;
        if (!ag::normalize_user(raw, config, scratch_user).empty())
            id = bad_name;
        else if (!wanted(scratch_user))
            id = unwanted;
        else
            id = user_id(scratch_user, create);
        if (raw_names.size() > 1000000 ||
            raw_name_texts.size() > (std::size_t{64} << 20)) { // a cache: bounded
            raw_names = {};
            raw_name_texts.clear();
            known = nullptr;
            same = false;
        }
        if (same) {
            known->id = id;
            known->known_users = static_cast<std::uint32_t>(users.size());
        } else if (!known) { // (another name with this hash: not cached)
            raw_names.try_emplace(key, RawName{static_cast<std::uint32_t>(raw_name_texts.size()),
                                               static_cast<std::uint32_t>(raw.size()), id,
                                               static_cast<std::uint32_t>(users.size())});
            raw_name_texts.append(raw);
        }
        return id;
    }

    bool in_range(std::int64_t t) const {
        return (!options.since || t >= *options.since) && (!options.until || t < *options.until);
    }

    bool wanted(const std::string& user) const {
        return options.only_users.empty() || options.only_users.count(user) > 0;
    }

    // Is this login's other log line already counted? Then it is a duplicate.
    bool paired_with_recent(const RecentLogin& login) {
        unsigned bit = 1u << static_cast<unsigned>(login.source);
        sources_seen |= bit;
        while (!recent.empty() &&
               (recent.front().time < login.time - pairing_window || recent.size() > 100000))
            recent.pop_front();
        if (sources_seen == bit) { // one source so far: nothing to pair with
            recent.push_back(login);
            return false;
        }
        for (std::size_t k = 0; k < recent.size(); ++k) {
            RecentLogin* it = &recent.newest(k);
            if (it->time < login.time - pairing_window) break;
            if (!it->paired && it->source != login.source && it->user == login.user &&
                it->address == login.address && it->outcome == login.outcome) {
                it->paired = true;
                return true;
            }
        }
        recent.push_back(login);
        return false;
    }

    void cleanup(std::int64_t now) {
        if (now < next_cleanup) return;
        next_cleanup = now + hour;
        messages.erase_if(
            [&](std::uint64_t, const InFlightMessage& m) { return m.time < now - queue_lifetime; });
        smtp_sessions.erase_if(
            [&](std::uint64_t, const SmtpSession& s) { return s.time < now - hour; });
        if (now >= next_purge) {
            next_purge = now + day;
            store.purge_expired();
        }
    }

    void on_line(std::string_view text, LineFlags flags) {
        ++totals.lines;
        if (flags.too_long || flags.unterminated) {
            ++totals.skipped[static_cast<std::size_t>(
                flags.too_long ? ls::SkipReason::too_long : ls::SkipReason::unterminated)];
            return;
        }
        ls::Line& line = line_;
        ls::Parser::Head head;
        if (parser.split(text, line, head)) { // (else a line without a time: counted below)
            std::size_t tag = login_tags.index(head.tag);
            if (known_login(tag, login_tags.hash(tag, head.body), head.body, line.time)) return;
            parser.parse_body(head, line);
            login_tags.learn(tag, head.tag, line);
        }
        on_parsed(line);
    }

    // A line the reading thread handed over (run_threaded): what on_line
    // does after the split, the known-login shortcut included.
    void on_handed(const LineBatch& batch, const HandedLine& h) {
        std::string_view body = batch.view(h.parsed ? h.body : h.second);
        if (known_login(h.tag, h.login_hash, body, h.time)) return;
        ls::Line& line = line_;
        line.time = h.time;
        line.reason = ls::SkipReason::none;
        if (!h.parsed) {
            line.kind = ls::Kind::ignored;
            body_parser.parse_body({batch.view(h.first), body, batch.view(h.third)}, line);
        } else if (h.kind == ls::Kind::auth) {
            line.kind = h.kind;
            line.auth =
                ls::AuthRecord{batch.view(h.first), batch.view(h.second), h.outcome, h.source,
                               batch.view(h.third), h.attempts,           h.number,  {}};
        } else {
            line.kind = h.kind;
            line.message = ls::MessageRecord{h.number, h.delivery, batch.view(h.first),
                                             {},       h.remote,   h.deferred};
        }
        on_parsed(line);
    }

    void on_parsed(const ls::Line& line) {
        switch (line.kind) {
        case ls::Kind::ignored:
            ++totals.ignored;
            return;
        case ls::Kind::skipped:
            ++totals.skipped[static_cast<std::size_t>(line.reason)];
            return;
        default:
            break;
        }
        if (!admitted(line.time)) return;
        if (line.kind == ls::Kind::auth)
            on_auth(line);
        else
            on_mail(line);
    }

    // The inputs read, split and parsed by a second thread while this one
    // counts (ScanOptions::threads). The lines reach on_parsed in the order
    // one thread reads them, so the result is the same to the byte. False,
    // with nothing read, when no thread can be started.
    bool run_threaded(const std::vector<std::string>& paths) {
        BatchQueue queue;
        std::vector<std::string> errors;
        std::uint64_t inputs = 0;
        ScanTotals counted; // by the reader: every line, and those it kept back
        std::exception_ptr failure;
        {
            // The reader's parser lives on its stack while it reads, so that
            // it shares no cache line with what this thread writes at every
            // line (Impl's counters).
            auto read = [&] {
                try {
                    ls::Parser own = parser;
                    read_batches(paths, own, queue, errors, inputs, counted);
                    parser = own; // (the year chain goes on in later inputs)
                } catch (const Stopped&) {
                } catch (...) {
                    failure = std::current_exception();
                }
                queue.finish();
            };
            std::thread reader;
            try {
                reader = std::thread(read);
            } catch (const std::system_error&) {
                return false; // no thread to be had (a process limit): nothing read yet
            }
            struct Joined { // also when counting throws
                BatchQueue& queue;
                std::thread& reader;
                ~Joined() {
                    queue.stop();
                    reader.join();
                }
            } joined{queue, reader};
            while (auto batch = queue.full_batch()) {
                for (const HandedLine& h : batch->lines)
                    on_handed(*batch, h);
                queue.give_back(std::move(batch));
            }
        }
        if (failure) std::rethrow_exception(failure);
        totals.inputs += inputs;
        for (auto& e : errors)
            totals.errors.push_back(std::move(e));
        totals.lines += counted.lines;
        totals.ignored += counted.ignored;
        for (std::size_t i = 0; i < totals.skipped.size(); ++i)
            totals.skipped[i] += counted.skipped[i];
        return true;
    }

    struct Stopped {}; // the counting thread gave up: the reader ends

    // The reading thread: every line of every input split by `parser` (a
    // copy of the scan's, which run_threaded takes back after the last
    // input: the year chain goes on) and parsed by the less busy thread,
    // into batches that own their bytes.
    void read_batches(const std::vector<std::string>& paths, ls::Parser& parser, BatchQueue& queue,
                      std::vector<std::string>& errors, std::uint64_t& inputs,
                      ScanTotals& counted) {
        LoginTags tags; // the reader's own (see LoginTags)
        SeenTexts seen;
        std::unique_ptr<LineBatch> batch = queue.empty_batch();
        if (!batch) return;
        // Who parses: this thread while the counting one has batches
        // waiting, else the counting one (which would otherwise wait: on
        // logs of mostly repeated or ignored lines the reading is the
        // larger half). Either parse gives the same record.
        using Side = ScanOptions::ParseSide;
        bool parse_here = options.parse_side != Side::counter;
        ls::Line line;
        auto add = [&](std::string_view text, LineFlags flags) {
            ++counted.lines;
            if (flags.too_long || flags.unterminated) {
                ++counted.skipped[static_cast<std::size_t>(
                    flags.too_long ? ls::SkipReason::too_long : ls::SkipReason::unterminated)];
                return;
            }
            // Lines of no use are only counted here (less to hand over).
            auto counted_here = [&] {
                if (line.kind == ls::Kind::ignored)
                    ++counted.ignored;
                else if (line.kind == ls::Kind::skipped)
                    ++counted.skipped[static_cast<std::size_t>(line.reason)];
                else
                    return false;
                return true;
            };
            ls::Parser::Head head;
            if (!parser.split(text, line, head)) {
                counted_here();
                return;
            }
            if (batch->full() || !batch->has_room(text.size())) {
                std::size_t waiting = queue.hand_over(std::move(batch));
                if (options.parse_side == Side::balanced) parse_here = waiting > 1;
                batch = queue.empty_batch();
                if (!batch) throw Stopped{};
            }
            std::size_t used_before = batch->used();
            HandedLine h;
            h.time = line.time;
            h.tag = static_cast<std::uint32_t>(tags.index(head.tag));
            h.login_hash = tags.hash(h.tag, head.body);
            // The line's bytes in the batch, when they are needed there:
            // the counting thread compares the text with its known logins,
            // or parses it.
            std::string_view within;
            Span whole;
            if (h.login_hash != 0 || !parse_here) {
                within = text;
                whole = batch->copy(text);
                if (!parse_here || seen.seen(h.login_hash)) {
                    h.first = batch->keep(head.tag, within, whole);
                    h.second = batch->keep(head.body, within, whole);
                    h.third = batch->keep(head.text, within, whole);
                    batch->lines.push_back(h);
                    return;
                }
                h.body = batch->keep(head.body, within, whole);
            }
            parser.parse_body(head, line);
            tags.learn(h.tag, head.tag, line);
            if (counted_here()) {
                batch->rewind(used_before);
                return;
            }
            // Else only the fields counted are kept: the rest of the line
            // (most of all of qmail-send's) does not cross to the other core.
            h.parsed = true;
            h.kind = line.kind;
            if (line.kind == ls::Kind::auth) {
                const ls::AuthRecord& a = line.auth;
                h.first = batch->keep(a.user, within, whole);
                h.second = batch->keep(a.address, within, whole);
                h.third = batch->keep(a.service, within, whole);
                h.outcome = a.outcome;
                h.source = a.source;
                h.attempts = a.attempts;
                h.number = a.session;
            } else {
                const ls::MessageRecord& m = line.message;
                h.first = batch->keep(m.sender, within, whole);
                h.number = m.msg;
                h.delivery = m.delivery;
                h.remote = m.remote;
                h.deferred = m.deferred;
            }
            batch->lines.push_back(h);
        };
        for (const auto& path : paths) {
            ++inputs;
            std::unique_ptr<LogReader> reader = open_input(path, parser, errors);
            if (!reader) continue;
            std::string error = reader->read_all(add);
            if (!error.empty()) errors.push_back(error);
        }
        if (!batch->lines.empty()) queue.hand_over(std::move(batch));
    }

    // An input opened for reading, the parser's year reference set from
    // it; nullptr (and the reason in `errors`) when it cannot be opened.
    static std::unique_ptr<LogReader> open_input(const std::string& path, ls::Parser& parser,
                                                 std::vector<std::string>& errors) {
        authguard::Fd fd;
        try {
            fd = open_log(path);
        } catch (const std::exception& e) {
            errors.push_back(e.what());
            return nullptr;
        }
        // The year of a syslog line is told by the file's time (see logscan.hpp).
        struct stat st {};
        if (path != "-" && ::fstat(fd.get(), &st) == 0)
            parser.set_reference(st.st_mtime);
        else
            parser.set_reference(static_cast<std::int64_t>(std::time(nullptr)));
        return std::make_unique<LogReader>(std::move(fd), path == "-" ? "standard input" : path);
    }

    // An event's time within --since/--until (else counted and left out),
    // which also moves the clock of the scan's housekeeping.
    bool admitted(std::int64_t time) {
        if (!in_range(time)) {
            ++totals.outside_range;
            return false;
        }
        cleanup(time);
        return true;
    }

    // A vchkpw line's text (after the tag at login_tags[tag]) seen before
    // is that login again: true when it was counted so. Otherwise, when it
    // may become a known login, login_text keeps it for remember_login.
    // `hash` is LoginTags::hash(tag, body): 0 when the line cannot be one.
    bool known_login(std::size_t tag, std::uint64_t hash, std::string_view body,
                     std::int64_t time) {
        login_text.hash = 0;
        if (hash == 0) return false;
        const KnownLogin& known = known_logins[hash % known_login_slots];
        if (known.hash != hash || known.tag != tag || known.length != body.size() ||
            std::memcmp(known.text, body.data(), body.size()) != 0) {
            login_text = {hash, static_cast<std::uint8_t>(tag), body};
            return false;
        }
        if (!admitted(time)) return true;
        if (known.user == unwanted)
            ++totals.other_users;
        else
            login(known.user, known.address, time, known.outcome, ls::Source::vchkpw, known.service,
                  1, 0);
        return true;
    }

    void on_auth(const ls::Line& line) {
        const ls::AuthRecord& a = line.auth;
        // A known user logging in again from the address of the last login
        // (a mail client polling) is told apart with one comparison.
        std::uint32_t user = user_for(a.user, false);
        if (user == bad_name) {
            ++totals.skipped[static_cast<std::size_t>(ls::SkipReason::bad_user)];
            return;
        }
        if (user == unwanted) {
            ++totals.other_users;
            if (a.source == ls::Source::vchkpw && a.attempts == 1)
                remember_login(user, 0, a.outcome, 0);
            return;
        }
        std::uint32_t address;
        if (user != none && users[user].last_raw_length == a.address.size() && !a.address.empty() &&
            std::memcmp(users[user].last_raw, a.address.data(), a.address.size()) == 0) {
            address = users[user].last_raw_address;
        } else {
            address = address_id(a.address);
            if (address == none) {
                ++totals.skipped[static_cast<std::size_t>(ls::SkipReason::bad_address)];
                return;
            }
            if (user == none) user = user_for(a.user, true); // a new user, with a good address
            UserState& u = users[user];
            u.last_raw_length = a.address.size() <= sizeof u.last_raw
                                    ? static_cast<std::uint8_t>(a.address.size())
                                    : 0;
            if (u.last_raw_length) std::memcpy(u.last_raw, a.address.data(), u.last_raw_length);
            u.last_raw_address = address;
        }
        std::uint32_t service = service_id(a.service);
        if (a.source == ls::Source::vchkpw && a.attempts == 1)
            remember_login(user, address, a.outcome, service);
        login(user, address, line.time, a.outcome, a.source, service, a.attempts, a.session);
    }

    // This line's text (login_text) means this login: kept for the next
    // line with the same text. vchkpw's lines only: the others hold a
    // session or a count that the text alone does not give.
    void remember_login(std::uint32_t user, std::uint32_t address, ag::Outcome outcome,
                        std::uint32_t service) {
        if (login_text.hash == 0) return;
        KnownLogin& known = known_logins[login_text.hash % known_login_slots];
        known.hash = login_text.hash;
        known.tag = login_text.tag;
        known.length = static_cast<std::uint8_t>(login_text.text.size());
        std::memcpy(known.text, login_text.text.data(), login_text.text.size());
        known.outcome = outcome;
        known.user = user;
        known.address = address;
        known.service = service;
    }

    void login(std::uint32_t user, std::uint32_t address, std::int64_t time, ag::Outcome outcome,
               ls::Source source, std::uint32_t service, std::uint32_t attempts,
               std::uint64_t session) {
        if (source == ls::Source::qmail_smtpd || (source == ls::Source::postfix && session)) {
            // Accept::AUTH is logged again with every RCPT of the session,
            // Postfix's login with every message (logscan.hpp: AuthRecord).
            auto [known, fresh] =
                smtp_sessions.try_emplace(session, SmtpSession{user, address, time, outcome});
            if (!fresh && known->user == user && known->address == address &&
                known->outcome == outcome && time - known->time <= hour) {
                ++totals.duplicates;
                return;
            }
            *known = SmtpSession{user, address, time, outcome};
        }
        if (paired_with_recent({time, user, address, outcome, source, false})) {
            ++totals.duplicates;
            return;
        }
        ++totals.auth_lines;
        for (std::uint32_t i = 0; i < attempts; ++i)
            apply(user, address, time, outcome, service);
    }

    void apply(std::uint32_t user_index, std::uint32_t address, std::int64_t t, ag::Outcome outcome,
               std::uint32_t service) {
        UserState& u = users[user_index];
        UserSummary& s = u.summary;
        if (s.first_seen == 0 || t < s.first_seen) s.first_seen = t;
        s.last_seen = std::max(s.last_seen, t);
        u.service_bits |= service_bit(service);

        const AddressInfo& info = addresses[address];
        std::uint32_t pair_index;
        if (u.last_address == address) { // a client logging in again (POP3 polling, ...)
            pair_index = u.last_pair;
        } else {
            auto [pair_at, new_pair] = pair_ids.try_emplace(
                pair_key(user_index, address), static_cast<std::uint32_t>(pairs.size()));
            pair_index = *pair_at;
            if (new_pair) {
                auto [wide_at, new_wide] = wide_ids.try_emplace(
                    pair_key(user_index, info.wide), static_cast<std::uint32_t>(wides.size()));
                if (new_wide) wides.push_back(WideSlot{});
                AddressSlot fresh;
                fresh.address = address;
                fresh.first = fresh.last = stamp(t);
                fresh.wide = *wide_at;
                fresh.allowlisted = info.allowlisted;
                fresh.order = static_cast<std::uint32_t>(u.address_slots.size());
                pairs.push_back(fresh);
                u.address_slots.push_back(pair_index);
            }
            u.last_address = address;
            u.last_pair = pair_index;
        }
        AddressSlot& slot = pairs[pair_index];
        std::uint32_t wide_index = slot.wide;
        WideSlot& wide = wides[wide_index];
        slot.first = std::min(slot.first, stamp(t));
        slot.last = std::max(slot.last, stamp(t));
        HourSummary* h = u.timeline ? &u.hours[t - ((t % hour) + hour) % hour] : nullptr;

        if (outcome == ag::Outcome::success) {
            ++s.logins;
            if (slot.successes++ == 0) {
                ++s.success_addresses;
                slot.first_success = stamp(t);
                if (wide.success_addresses == 0) ++s.success_wide_networks;
                count_busiest(u, wide_index, slot);
                if (h) ++h->new_addresses;
                if (user_networks.try_emplace(pair_key(user_index, info.network), true).second)
                    ++s.success_networks;
            } else {
                slot.first_success = std::min(slot.first_success, stamp(t));
            }
            u.address_windows.touch(pairs, pair_index, t);
            u.wide_windows.touch(wides, wide_index, t);
            if (h) ++h->logins;
        } else if (outcome == ag::Outcome::bad_password) {
            ++s.failures;
            if (slot.failures++ == 0) ++s.failing_addresses;
            if (!wide.failed) {
                wide.failed = true;
                ++s.failing_wide_networks;
            }
            if (h) ++h->failures;
        } else {
            ++s.tempfails;
        }
        replay(u, slot, info, t, outcome, service);
    }

    // Forgets what the store would have forgotten: nothing recorded for
    // known-period (see UserState::in_store).
    void expire_stored(UserState& u, std::int64_t t) {
        if (u.stored_expire == 0 || t < u.stored_expire) return;
        for (auto index : u.address_slots)
            pairs[index].stored[0] = pairs[index].stored[1] = {};
        u.stored_observations = 0;
        u.stored_expire = 0;
    }

    // Hands the observations kept so far to the store, in the order the
    // store would hold them.
    void move_to_store(UserState& u) {
        std::vector<std::pair<std::uint32_t, ag::Observation>> kept;
        for (auto index : u.address_slots) {
            const AddressSlot& slot = pairs[index];
            for (int kind = 0; kind < 2; ++kind) {
                const StoredObservation& o = slot.stored[kind];
                if (o.count == 0) continue;
                kept.push_back({o.order, ag::Observation{kind == 0 ? ag::Observation::Kind::success
                                                                   : ag::Observation::Kind::failure,
                                                         addresses[slot.address].text,
                                                         std::int64_t{o.first},
                                                         std::int64_t{o.last},
                                                         std::int64_t{o.count},
                                                         std::nullopt,
                                                         {}}});
            }
        }
        std::sort(kept.begin(), kept.end(), [](auto& a, auto& b) { return a.first < b.first; });
        ag::History history;
        for (auto& k : kept)
            history.observations.push_back(std::move(k.second));
        store.put_history(u.summary.user, std::move(history), u.stored_expire);
        u.in_store = true;
    }

    // An address of the user's succeeded for the first time: its wide
    // network counts one more, and may now be the busiest. Counts only grow
    // and a network's first address only gets earlier, so the busiest is
    // either what it was or this one, in whatever order the logins come.
    void count_busiest(UserState& u, std::uint32_t wide_index, const AddressSlot& slot) {
        WideSlot& w = wides[wide_index];
        ++w.success_addresses;
        w.first_order = std::min(w.first_order, slot.order); // (none is the largest)
        if (u.busiest_wide == wide_index) return;
        if (u.busiest_wide == none) {
            u.busiest_wide = wide_index;
            return;
        }
        const WideSlot& best = wides[u.busiest_wide];
        if (w.success_addresses > best.success_addresses ||
            (w.success_addresses == best.success_addresses && w.first_order < best.first_order))
            u.busiest_wide = wide_index;
    }

    void replay(UserState& u, AddressSlot& slot, const AddressInfo& info, std::int64_t t,
                ag::Outcome outcome, std::uint32_t service) {
        UserSummary& s = u.summary;
        if (u.allowlisted) { // as Guard::check: not recorded, not judged
            if (outcome == ag::Outcome::success) ++s.logins_allowed;
            return;
        }
        // The detector counts within its windows; so many networks and
        // addresses in the last day (when its long window is no longer, and
        // the event is not older than what was seen), or ever, bound them.
        bool in_order = t >= u.address_windows.newest() && t >= u.wide_windows.newest();
        bool day_bounds = config.window_long <= day && config.window_short <= day && in_order;
        int wides_seen =
            day_bounds ? u.wide_windows.in_day() : static_cast<int>(s.success_wide_networks);
        int addresses_seen =
            day_bounds ? u.address_windows.in_day() : static_cast<int>(s.success_addresses);
        ag::ReplayHints hints;
        hints.quiet =
            u.quiet.below(wides_seen, addresses_seen, static_cast<int>(s.failing_wide_networks));
        hints.address_allowed = slot.allowlisted;
        hints.already_let_in = true; // a log of what the server did, as follow reads it
        hints.keys = &network_key_cache;

        if (!u.in_store && !options.replay_all) {
            expire_stored(u, t);
            bool counted = !slot.allowlisted && outcome != ag::Outcome::temporary_failure;
            StoredObservation& o = slot.stored[outcome == ag::Outcome::success ? 0 : 1];
            bool evicts = counted && o.count == 0 &&
                          u.stored_observations >= static_cast<std::uint32_t>(config.max_entries);
            if (hints.quiet && !evicts) { // what record() and decide() would do
                if (counted) {
                    if (o.count++ == 0) {
                        o.first = o.last = stamp(t);
                        o.order = u.stored_order++;
                        ++u.stored_observations;
                    }
                    o.first = std::min(o.first, stamp(t));
                    o.last = std::max(o.last, stamp(t));
                    u.stored_expire = std::max(u.stored_expire, t + config.known_period);
                }
                if (outcome == ag::Outcome::success) ++s.logins_allowed;
                return;
            }
            move_to_store(u);
        }
        event.user.assign(s.user);
        event.address.assign(info.text);
        event.service.assign(service_names[service]);
        event.time = t;
        event.outcome = outcome;
        ag::Decision d = ag::replay_check(config, store, event, hints);
        if (severity(d.verdict) > severity(s.verdict)) s.verdict = d.verdict;
        switch (d.verdict) {
        case ag::Verdict::lock:
            if (s.locked_at == 0) {
                s.locked_at = t;
                s.lock_reason = d.reason;
                s.lock_evidence = d.evidence;
            }
            break;
        case ag::Verdict::refuse_locked:
            if (s.locked_at == 0) { // locked before --since: the store never saw it
                s.locked_at = t;
                s.lock_reason = d.reason;
            }
            break;
        case ag::Verdict::alert:
            if (s.alerts++ == 0) {
                s.first_alert_at = t;
                s.first_alert_reason = d.reason;
            }
            break;
        default:
            break;
        }
        if (outcome == ag::Outcome::success) {
            if (d.verdict == ag::Verdict::allow || d.verdict == ag::Verdict::alert)
                ++s.logins_allowed;
            else
                ++s.logins_refused;
        }
        if (!hints.quiet) {
            s.peak_new_networks_1h =
                std::max(s.peak_new_networks_1h, d.signals.short_window.new_wide_networks);
            s.peak_new_networks_24h =
                std::max(s.peak_new_networks_24h, d.signals.long_window.new_wide_networks);
        }
    }

    // The users, the most alarming first: ids sorted, not summaries (a
    // summary is some 400 bytes and strings, and there may be tens of
    // thousands of brute-force names).
    std::vector<std::uint32_t> ranking() const {
        struct Rank {
            int severity;
            std::int64_t max_day;
            std::uint64_t prefix;  // the name's first 8 bytes, big-endian: most ties
            std::string_view user; // are broken by the name, most of them there
            std::uint32_t id;
        };
        auto prefix_of = [](std::string_view name) {
            std::uint64_t p = 0;
            for (std::size_t i = 0; i < 8; ++i)
                p = (p << 8) | (i < name.size() ? static_cast<unsigned char>(name[i]) : 0u);
            return p;
        };
        std::vector<Rank> ranks;
        ranks.reserve(users.size());
        for (std::uint32_t id = 0; id < users.size(); ++id)
            ranks.push_back({severity(users[id].summary.verdict),
                             users[id].address_windows.max_day(), prefix_of(users[id].summary.user),
                             users[id].summary.user, id});
        std::sort(ranks.begin(), ranks.end(), [&](const Rank& a, const Rank& b) {
            if (a.severity != b.severity) return a.severity > b.severity;
            if (a.max_day != b.max_day) return a.max_day > b.max_day;
            if (a.prefix != b.prefix) return a.prefix < b.prefix;
            return a.user < b.user;
        });
        std::vector<std::uint32_t> ids;
        ids.reserve(ranks.size());
        for (auto& r : ranks)
            ids.push_back(r.id);
        return ids;
    }

    // A user's summary with what is worked out only at the end, copied.
    UserSummary summary_of(const UserState& u) const {
        UserSummary s = u.summary;
        finish(u, s);
        return s;
    }

    // What is worked out only at the end, into `s`: u's summary itself
    // (LogScan::ranked_users) or a copy of it.
    void finish(const UserState& u, UserSummary& s) const {
        for (std::size_t i = 0; i < service_names.size() && i < 32; ++i)
            if (u.service_bits & (1u << i)) s.services.push_back(service_names[i]);
        std::sort(s.services.begin(), s.services.end());
        s.max_addresses_1h = u.address_windows.max_hour();
        s.max_addresses_24h = u.address_windows.max_day();
        s.max_networks_1h = u.wide_windows.max_hour();
        s.max_networks_24h = u.wide_windows.max_day();
        busiest(u, s);
    }

    // The wide network most of the user's successful addresses are in (the
    // first seen among equals: count_busiest), named for people
    // (network_names.hpp).
    void busiest(const UserState& u, UserSummary& s) const {
        if (u.busiest_wide == none) return;
        const WideSlot& best = wides[u.busiest_wide];
        const AddressInfo& first = addresses[pairs[u.address_slots[best.first_order]].address];
        s.busiest_wide_network = network_name(first.wide);
        s.busiest_wide_network_label =
            ag::describe_network(s.busiest_wide_network, first.text, config);
        s.busiest_wide_addresses = best.success_addresses;
    }

    void on_mail(const ls::Line& line) {
        const ls::MessageRecord& m = line.message;
        switch (line.kind) {
        case ls::Kind::message: {
            std::uint32_t user = user_for(m.sender, false);
            if (user == unwanted) { // a user --user leaves out
                ++totals.other_users;
                return;
            }
            // Inbound mail, bounces, local senders, and senders whose
            // every login failed so far: none of it came through a login
            // of theirs (as follow counts, and the man page says).
            if (user >= unwanted || users[user].summary.logins == 0) {
                ++totals.unattributed_messages;
                return;
            }
            ++totals.mail_lines;
            auto [msg, fresh] = messages.try_emplace(m.msg, InFlightMessage{user, 0, line.time});
            if (!fresh) *msg = InFlightMessage{user, 0, line.time}; // the number was reused
            UserState& u = users[user];
            ++u.summary.messages;
            if (u.timeline) ++u.hours[line.time - ((line.time % hour) + hour) % hour].messages;
            return;
        }
        case ls::Kind::delivery_start: {
            InFlightMessage* msg = messages.find(m.msg);
            if (!msg) return;
            ++totals.mail_lines;
            deliveries[m.delivery % delivery_slots] = Delivery{m.delivery, m.msg};
            if (msg->deferrals > 0) {
                --msg->deferrals; // a retry of a deferred recipient
                return;
            }
            UserState& u = users[msg->user];
            ++u.summary.recipients;
            if (u.timeline) ++u.hours[line.time - ((line.time % hour) + hour) % hour].recipients;
            return;
        }
        case ls::Kind::delivery_done: {
            Delivery& delivery = deliveries[m.delivery % delivery_slots];
            if (delivery.delivery != m.delivery) return;
            ++totals.mail_lines;
            if (m.deferred)
                if (InFlightMessage* msg = messages.find(delivery.msg)) ++msg->deferrals;
            delivery = Delivery{};
            return;
        }
        case ls::Kind::message_end:
            if (messages.erase(m.msg)) ++totals.mail_lines;
            return;
        default:
            return;
        }
    }
};

LogScan::LogScan(const ag::Config& config, ScanOptions options)
    : impl_(std::make_unique<Impl>(config, std::move(options))) {}

LogScan::~LogScan() = default;

void LogScan::add_input(const std::string& path) {
    ++impl_->totals.inputs;
    std::unique_ptr<LogReader> reader =
        impl_->open_input(path, impl_->parser, impl_->totals.errors);
    if (!reader) return;
    std::string error = reader->read_all(
        [this](std::string_view line, LineFlags flags) { impl_->on_line(line, flags); });
    if (!error.empty()) impl_->totals.errors.push_back(error);
}

void LogScan::add_inputs(const std::vector<std::string>& paths) {
    if (impl_->options.threads > 1 && !paths.empty() && impl_->run_threaded(paths)) return;
    for (const auto& path : paths)
        add_input(path);
}

const ScanTotals& LogScan::totals() const {
    return impl_->totals;
}

std::vector<UserSummary> LogScan::users() const {
    std::vector<UserSummary> out;
    out.reserve(impl_->users.size());
    for (auto id : impl_->ranking())
        out.push_back(impl_->summary_of(impl_->users[id]));
    return out;
}

std::vector<std::reference_wrapper<const UserSummary>> LogScan::ranked_users() {
    std::vector<std::reference_wrapper<const UserSummary>> out;
    out.reserve(impl_->users.size());
    for (auto id : impl_->ranking()) {
        UserState& u = impl_->users[id];
        impl_->finish(u, u.summary);
        out.push_back(std::cref(u.summary));
    }
    return out;
}

std::optional<UserSummary> LogScan::user(const std::string& name) const {
    auto id = impl_->user_id(name, false);
    if (id == none) return std::nullopt;
    const Impl& impl = *impl_;
    return impl.summary_of(impl.users[id]);
}

std::vector<AddressSummary> LogScan::addresses(const std::string& user) const {
    std::vector<AddressSummary> out;
    auto id = impl_->user_id(user, false);
    if (id == none) return out;
    for (auto index : impl_->users[id].address_slots) {
        const AddressSlot& slot = impl_->pairs[index];
        const AddressInfo& info = impl_->addresses[slot.address];
        out.push_back({info.text, impl_->network_name(info.network), impl_->network_name(info.wide),
                       slot.first, slot.last, slot.successes ? std::int64_t{slot.first_success} : 0,
                       slot.successes, slot.failures});
    }
    std::sort(out.begin(), out.end(), [](const AddressSummary& a, const AddressSummary& b) {
        if (a.first != b.first) return a.first < b.first;
        return a.address < b.address;
    });
    return out;
}

std::map<std::int64_t, HourSummary> LogScan::timeline(const std::string& user) const {
    auto id = impl_->user_id(user, false);
    if (id == none) return {};
    return impl_->users[id].hours;
}

} // namespace authguardctl
