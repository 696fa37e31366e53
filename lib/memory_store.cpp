// memory_store.cpp - the Store in memory, step for step what lib/record.lua
// and lib/message.lua do in Redis (see memory_store.hpp).
#include "authguard/memory_store.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>

namespace authguard {

namespace {

bool lock_in_force(const std::optional<Lock>& lock, std::int64_t now) {
    return lock && (lock->until == 0 || lock->until > now);
}

// The service as the other stores keep it (observation_suffix): a word.
std::string stored_service(std::string_view service) {
    std::string suffix = observation_suffix(std::nullopt, service);
    return suffix.empty() ? std::string() : suffix.substr(2);
}

const History& empty_history() {
    static const History none;
    return none;
}

} // namespace

std::int64_t MemoryStore::now() {
    return clock_ != 0 ? clock_ : static_cast<std::int64_t>(std::time(nullptr));
}

std::int64_t MemoryStore::clock_for(std::int64_t time) {
    if (time <= 0) return now();
    clock_ = std::max(clock_, time);
    return time;
}

bool MemoryStore::expire(UserState& u, std::int64_t now) {
    if (u.observations_expire != 0 && now >= u.observations_expire) {
        u.history.observations.clear();
        u.history.dropped = 0;
        u.marks.clear();
        u.observations_expire = 0;
    }
    if (u.lock_expire != 0 && now >= u.lock_expire) {
        u.history.lock.reset();
        u.lock_expire = 0;
    }
    return u.observations_expire == 0 && u.lock_expire == 0;
}

MemoryStore::UserState* MemoryStore::find_user(const std::string& user, std::int64_t now) {
    auto it = users_.find(user);
    if (it == users_.end()) return nullptr;
    if (expire(it->second, now)) {
        users_.erase(it);
        return nullptr;
    }
    return &it->second;
}

const History& MemoryStore::record_in_place(const Event& event, const RecordOptions& options,
                                            std::int64_t& now) {
    now = clock_for(event.time);
    UserState* u = find_user(event.user, now);
    if (!options.bind_session.empty())
        sessions_[options.bind_session] = Session{event.user, now + options.session_ttl};
    if (!options.count) return u ? u->history : empty_history();

    if (!u) u = &users_[event.user];
    History& h = u->history;
    auto kind = event.outcome == Outcome::success ? Observation::Kind::success
                                                  : Observation::Kind::failure;
    std::optional<std::uint16_t> fingerprint;
    if (kind == Observation::Kind::failure) fingerprint = event.fingerprint;

    auto existing = std::find_if(h.observations.begin(), h.observations.end(), [&](const Observation& o) {
        return o.kind == kind && o.address == event.address;
    });
    if (existing != h.observations.end()) {
        existing->first = std::min(existing->first, now);
        existing->last = std::max(existing->last, now);
        ++existing->count;
        existing->fingerprint = fingerprint; // the script rewrites the value: the latest, or none
        existing->service = stored_service(event.service);
    } else {
        // Full (the hash's fields: the observations and, once used,
        // "x|dropped"): forget what has expired; if still full, forget the
        // entry seen least recently, a failure before a success, so that the
        // newest event is always kept.
        auto fields = [&] { return h.observations.size() + (h.dropped > 0 ? 1 : 0); };
        const auto max = static_cast<std::size_t>(config_.max_entries);
        if (fields() >= max) {
            std::erase_if(h.observations, [&](const Observation& o) {
                std::int64_t keep = o.kind == Observation::Kind::success ? config_.known_period
                                                                         : config_.window_long;
                return o.last < now - keep;
            });
            if (fields() >= max && !h.observations.empty()) {
                auto rank = [](const Observation& o) {
                    return std::pair(o.kind == Observation::Kind::success ? 1 : 0, o.last);
                };
                auto oldest = h.observations.begin();
                for (auto it = h.observations.begin(); it != h.observations.end(); ++it)
                    if (rank(*it) < rank(*oldest)) oldest = it; // the first of equals, as the script
                h.observations.erase(oldest);
                ++h.dropped;
            }
        }
        h.observations.push_back(Observation{kind, event.address, now, now, 1, fingerprint,
                                             stored_service(event.service)});
    }
    if (options.mark) u->marks[options.mark->follower] = options.mark->token;
    u->observations_expire = std::max(u->observations_expire, now + config_.known_period);
    if (lock_in_force(h.lock, now)) {
        ++h.lock->attempts_after;
        h.lock->last_attempt = now;
        u->lock_expire = std::max(u->lock_expire, now + config_.lock_retention);
    }
    return h;
}

RecordResult MemoryStore::record(const Event& event, const RecordOptions& options) {
    RecordResult result;
    result.history = record_in_place(event, options, result.now);
    return result;
}

MessageCounts MemoryStore::count_message(const std::string& sender, std::int64_t time,
                                         int messages, int recipients, const FeedMark* mark) {
    MessageCounts counts;
    std::int64_t now = clock_for(time);
    counts.now = now;
    const std::int64_t short_window = config_.window_short, long_window = config_.window_long;
    const std::int64_t short_step = std::max<std::int64_t>(1, short_window / 12);
    const std::int64_t long_step = std::max<std::int64_t>(1, long_window / 24);

    auto it = rates_.find(sender);
    if (it != rates_.end() && now >= it->second.expire) {
        rates_.erase(it);
        it = rates_.end();
    }
    if (messages > 0 || recipients > 0) {
        it = rates_.try_emplace(sender).first;
        Rate& r = it->second;
        std::string s = std::to_string(now / short_step), l = std::to_string(now / long_step);
        r.buckets["s" + s + "m"] += messages;
        r.buckets["s" + s + "r"] += recipients;
        r.buckets["l" + l + "r"] += recipients;
        if (mark) r.marks[mark->follower] = mark->token;
        r.expire = std::max(r.expire, now + long_window + long_step);
    } else if (it != rates_.end() && (messages < 0 || recipients < 0)) {
        // Takes back a message counted at `now` that was then not queued
        // (message.lua): never below 0, an emptied bucket goes.
        Rate& r = it->second;
        std::string s = std::to_string(now / short_step), l = std::to_string(now / long_step);
        for (auto [field, by] :
             {std::pair{"s" + s + "m", messages}, std::pair{"s" + s + "r", recipients},
              std::pair{"l" + l + "r", recipients}}) {
            auto b = r.buckets.find(field);
            if (b == r.buckets.end()) continue;
            if ((b->second += by) <= 0) r.buckets.erase(b);
        }
    }
    if (it != rates_.end()) {
        Rate& r = it->second;
        for (auto b = r.buckets.begin(); b != r.buckets.end();) {
            const std::string& key = b->first;
            std::int64_t bucket = 0;
            std::from_chars(key.data() + 1, key.data() + key.size() - 1, bucket);
            bool stale = key[0] == 's' ? (bucket + 1) * short_step <= now - short_window
                                       : (bucket + 1) * long_step <= now - long_window;
            if (stale) {
                b = r.buckets.erase(b);
                continue;
            }
            if (key[0] == 's' && key.back() == 'm') counts.messages_short += b->second;
            else if (key[0] == 's') counts.recipients_short += b->second;
            else counts.recipients_long += b->second;
            ++b;
        }
        if (r.buckets.empty() && r.marks.empty()) rates_.erase(it); // Redis drops an emptied hash
    }
    if (sender.rfind("relay:", 0) != 0)
        if (UserState* u = find_user(sender, now)) counts.lock = u->history.lock;
    return counts;
}

std::optional<std::string> MemoryStore::feed_mark(const std::string& user, FeedKind kind,
                                                  const std::string& follower) {
    const std::map<std::string, std::string>* marks = nullptr;
    if (kind == FeedKind::login) {
        if (UserState* u = find_user(user, now())) marks = &u->marks;
    } else if (auto it = rates_.find(user); it != rates_.end() && now() < it->second.expire) {
        marks = &it->second.marks;
    }
    if (!marks) return std::nullopt;
    auto found = marks->find(follower);
    if (found == marks->end()) return std::nullopt;
    return found->second;
}

std::optional<std::string> MemoryStore::session_user(const std::string& session_key,
                                                     std::int64_t ttl) {
    std::int64_t now = this->now();
    auto it = sessions_.find(session_key);
    if (it == sessions_.end()) return std::nullopt;
    if (now >= it->second.expire) {
        sessions_.erase(it);
        return std::nullopt;
    }
    it->second.expire = now + ttl;
    return it->second.user;
}

LockAttempt MemoryStore::attempt_on_lock(const std::string& user, std::int64_t time, bool count) {
    LockAttempt result;
    result.now = clock_for(time);
    UserState* u = find_user(user, result.now);
    if (!u || !lock_in_force(u->history.lock, result.now)) return result;
    if (count) {
        ++u->history.lock->attempts_after;
        u->history.lock->last_attempt = result.now;
        u->lock_expire = std::max(u->lock_expire, result.now + config_.lock_retention);
    }
    result.lock = u->history.lock;
    return result;
}

bool MemoryStore::set_lock(const std::string& user, const Lock& lock) {
    std::int64_t now = clock_for(lock.since);
    UserState* u = find_user(user, now);
    if (u && lock_in_force(u->history.lock, lock.since)) return false;
    if (!u) u = &users_[user];
    u->history.lock = Lock{lock.since, lock.until, lock.reason, lock.evidence, 0, lock.since};
    u->lock_expire = now + config_.lock_retention;
    return true;
}

void MemoryStore::take_back_success(const std::string& user, const std::string& address) {
    UserState* u = find_user(user, now());
    if (!u) return;
    auto& observations = u->history.observations;
    auto it = std::find_if(observations.begin(), observations.end(), [&](const Observation& o) {
        return o.kind == Observation::Kind::success && o.address == address;
    });
    if (it == observations.end()) return;
    if (it->count <= 1)
        observations.erase(it);
    else
        --it->count;
}

bool MemoryStore::clear_lock(const std::string& user, const std::vector<std::string>& forget) {
    UserState* u = find_user(user, now());
    if (!u) return false;
    bool had = u->history.lock.has_value();
    u->history.lock.reset();
    u->lock_expire = 0;
    std::erase_if(u->history.observations, [&](const Observation& o) {
        return o.kind == Observation::Kind::success &&
               std::find(forget.begin(), forget.end(), o.address) != forget.end();
    });
    if (u->history.observations.empty() && u->history.dropped == 0 && u->marks.empty())
        u->observations_expire = 0;
    if (u->observations_expire == 0) users_.erase(user);
    return had;
}

History MemoryStore::load(const std::string& user) {
    UserState* u = find_user(user, now());
    return u ? u->history : History{};
}

std::vector<std::string> MemoryStore::users() {
    purge_expired();
    std::vector<std::string> out;
    out.reserve(users_.size());
    for (auto& [user, state] : users_)
        out.push_back(user);
    std::sort(out.begin(), out.end());
    return out;
}

StoreStats MemoryStore::stats() {
    purge_expired();
    StoreStats s;
    for (auto& [user, u] : users_) {
        ++s.users;
        if (u.history.lock) ++s.locks;
        s.observations += static_cast<std::int64_t>(u.history.observations.size());
        // A rough figure: the strings and the fixed parts of each record.
        s.memory_bytes += static_cast<std::int64_t>(sizeof(UserState) + user.size());
        for (auto& o : u.history.observations)
            s.memory_bytes += static_cast<std::int64_t>(sizeof(Observation) + o.address.size());
        for (auto& [follower, token] : u.marks)
            s.memory_bytes += static_cast<std::int64_t>(follower.size() + token.size());
        if (u.history.lock)
            s.memory_bytes +=
                static_cast<std::int64_t>(u.history.lock->reason.size() + u.history.lock->evidence.size());
    }
    return s;
}

void MemoryStore::put_history(const std::string& user, History history, std::int64_t expire_at) {
    if (history.observations.empty() && history.dropped == 0) {
        if (UserState* u = find_user(user, now())) {
            u->history.observations.clear();
            u->history.dropped = 0;
            u->marks.clear();
            u->observations_expire = 0;
            if (u->lock_expire == 0) users_.erase(user);
        }
        return;
    }
    UserState& u = users_[user];
    history.lock = std::move(u.history.lock);
    u.history = std::move(history);
    u.observations_expire = expire_at;
}

void MemoryStore::purge_expired() {
    std::int64_t now = this->now();
    for (auto it = users_.begin(); it != users_.end();)
        it = expire(it->second, now) ? users_.erase(it) : std::next(it);
    std::erase_if(rates_, [&](const auto& entry) { return now >= entry.second.expire; });
    std::erase_if(sessions_, [&](const auto& entry) { return now >= entry.second.expire; });
}

std::optional<std::int64_t> MemoryStore::observations_expire_at(const std::string& user) {
    UserState* u = find_user(user, now());
    if (!u || u->observations_expire == 0) return std::nullopt;
    return u->observations_expire;
}

std::optional<std::int64_t> MemoryStore::lock_expire_at(const std::string& user) {
    UserState* u = find_user(user, now());
    if (!u || u->lock_expire == 0) return std::nullopt;
    return u->lock_expire;
}

std::optional<std::int64_t> MemoryStore::rate_expire_at(const std::string& sender) {
    auto it = rates_.find(sender);
    if (it == rates_.end() || now() >= it->second.expire) return std::nullopt;
    return it->second.expire;
}

std::optional<std::int64_t> MemoryStore::session_expire_at(const std::string& session_key) {
    auto it = sessions_.find(session_key);
    if (it == sessions_.end() || now() >= it->second.expire) return std::nullopt;
    return it->second.expire;
}

} // namespace authguard
