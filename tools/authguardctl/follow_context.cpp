// follow_context.cpp - what earlier log lines say about later ones, for
// authguardctl follow (see follow.hpp, MailContext): qmail-smtpd sessions,
// the users who authenticated lately, and qmail-send's messages in flight.
#include "follow.hpp"

namespace authguardctl::follow {

template <class Key, class Value> Value* MailContext::Aging<Key, Value>::find(const Key& key) {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second.value;
}

template <class Key, class Value>
std::optional<Where> MailContext::Aging<Key, Value>::where(const Key& key) const {
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return Where{it->second.order.segment, it->second.order.offset, it->second.time};
}

template <class Key, class Value>
Value& MailContext::Aging<Key, Value>::put(const Key& key, Value value, const Where& at) {
    erase(key);
    Order order{at.segment, at.offset, serial_++};
    order_.emplace(order, key);
    return entries_.insert_or_assign(key, Entry{std::move(value), order, at.time})
        .first->second.value;
}

template <class Key, class Value> void MailContext::Aging<Key, Value>::erase(const Key& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    order_.erase(it->second.order);
    entries_.erase(it);
}

template <class Key, class Value> void MailContext::Aging<Key, Value>::prune(std::int64_t before) {
    // Lines come in time order, give or take a second: the oldest are first.
    while (!order_.empty()) {
        auto it = entries_.find(order_.begin()->second);
        if (it->second.time >= before) return;
        order_.erase(order_.begin());
        entries_.erase(it);
    }
}

template <class Key, class Value>
std::optional<std::uint64_t> MailContext::Aging<Key, Value>::earliest(std::uint64_t segment) const {
    auto it = order_.lower_bound(Order{segment, 0, 0});
    if (it == order_.end() || it->first.segment != segment) return std::nullopt;
    return it->first.offset;
}

bool MailContext::repeats_session(std::uint64_t session, std::string_view user,
                                  std::string_view address, const Where& at) {
    if (Session* s = sessions_.find(session); s && s->user == user && s->address == address)
        return true; // an older one was pruned: more than the window ago
    sessions_.put(session, Session{std::string(user), std::string(address)}, at);
    return false;
}

void MailContext::authenticated(const std::string& user, const Where& at) {
    senders_.put(user, true, at);
}

MailContext::Message* MailContext::message(std::uint64_t msg, const std::string& sender,
                                           const Where& at) {
    messages_.erase(msg); // qmail-send reuses a number (an inode) once its message is gone
    auto login = senders_.where(sender);
    if (!login) return nullptr;
    // What the message means rests on that login too: it is ordered by the
    // login's place, so that a restart reads again from there (the sender
    // may log in again meanwhile, which moves the sender's own entry on).
    return &messages_.put(msg, Message{sender, 0, authguard::Verdict::allow},
                          Where{login->segment, login->offset, at.time});
}

MailContext::Message* MailContext::first_delivery(std::uint64_t msg, std::uint64_t delivery) {
    Message* m = messages_.find(msg);
    if (!m) return nullptr;
    // a few hundred at a time are under way; lost "delivery" lines must not
    // make this grow without end
    if (deliveries_.size() > 100000) deliveries_.clear();
    deliveries_[delivery] = msg;
    if (m->deferrals > 0) {
        --m->deferrals;
        return nullptr;
    }
    return m;
}

void MailContext::delivery_done(std::uint64_t delivery, bool deferred) {
    auto it = deliveries_.find(delivery);
    if (it == deliveries_.end()) return;
    if (deferred)
        if (Message* m = messages_.find(it->second)) ++m->deferrals;
    deliveries_.erase(it);
}

void MailContext::message_end(std::uint64_t msg) {
    messages_.erase(msg);
}

void MailContext::prune(std::int64_t now) {
    sessions_.prune(now - window);
    senders_.prune(now - window);
    messages_.prune(now - window);
}

std::optional<std::uint64_t> MailContext::earliest(std::uint64_t segment) const {
    std::optional<std::uint64_t> first;
    for (auto at :
         {sessions_.earliest(segment), senders_.earliest(segment), messages_.earliest(segment)})
        if (at && (!first || *at < *first)) first = at;
    return first;
}

} // namespace authguardctl::follow
