// dump.cpp - a user's state as one line of authguardctl export / import
// (the format is in dump.hpp). Import reads files from elsewhere: every
// field is checked for its type and range before anything is restored.
#include "authguard/dump.hpp"

#include "authguard/json.hpp"

#include <stdexcept>

namespace authguard {

namespace {

using json::Value;

std::int64_t int_field(const Value& o, std::string_view key, bool required = true) {
    const Value* v = o.find(key);
    if (!v || v->is_null()) {
        if (required) throw std::runtime_error("missing \"" + std::string(key) + "\"");
        return 0;
    }
    if (auto* n = std::get_if<std::int64_t>(&v->v)) return *n;
    throw std::runtime_error("\"" + std::string(key) + "\" is not a whole number");
}

std::string string_field(const Value& o, std::string_view key) {
    const Value* v = o.find(key);
    if (auto* s = v ? std::get_if<std::string>(&v->v) : nullptr) return *s;
    throw std::runtime_error("\"" + std::string(key) + "\" is missing or not a string");
}

// {"<follower>":"<token>",...}, optional.
using Marks = std::vector<std::pair<std::string, std::string>>;

Marks marks_field(const Value& o, std::string_view key) {
    Marks out;
    const Value* v = o.find(key);
    if (!v || v->is_null()) return out;
    auto* marks = std::get_if<json::Object>(&v->v);
    if (!marks) throw std::runtime_error("\"" + std::string(key) + "\" is not an object");
    for (auto& [follower, token] : *marks) {
        auto* text = std::get_if<std::string>(&token.v);
        if (follower.empty() || !text)
            throw std::runtime_error("a bad mark in \"" + std::string(key) + "\"");
        out.emplace_back(follower, *text);
    }
    return out;
}

// "key":value pairs in a fixed order, so that export's output is stable.
class Line {
  public:
    Line& key(std::string_view name) {
        separate();
        out_ += json::quote(name);
        out_ += ':';
        after_key_ = true;
        return *this;
    }
    Line& text(std::string_view value) {
        separate();
        out_ += json::quote(value);
        return *this;
    }
    Line& number(std::int64_t value) {
        separate();
        out_ += std::to_string(value);
        return *this;
    }
    Line& null() {
        separate();
        out_ += "null";
        return *this;
    }
    Line& open(char bracket) {
        separate();
        out_ += bracket;
        first_ = true;
        return *this;
    }
    Line& close(char bracket) {
        out_ += bracket;
        first_ = false;
        return *this;
    }
    std::string take() { return std::move(out_); }

  private:
    void separate() {
        if (after_key_) {
            after_key_ = false;
            return;
        }
        if (!first_) out_ += ',';
        first_ = false;
    }
    std::string out_;
    bool first_ = true; // nothing written yet in the innermost container
    bool after_key_ = false;
};

void marks_json(Line& j, std::string_view key, const Marks& marks) {
    j.key(key).open('{');
    for (auto& [follower, token] : marks)
        j.key(follower).text(token);
    j.close('}');
}

} // namespace

std::string format_dump(const UserDump& d) {
    Line j;
    j.open('{').key("user").text(d.user);
    j.key("observations").open('[');
    for (auto& o : d.history.observations) {
        j.open('{');
        j.key("kind").text(o.kind == Observation::Kind::success ? "success" : "failure");
        j.key("address").text(o.address);
        j.key("first").number(o.first).key("last").number(o.last).key("count").number(o.count);
        if (o.fingerprint) j.key("fingerprint").number(*o.fingerprint);
        if (!o.service.empty()) j.key("service").text(o.service);
        j.close('}');
    }
    j.close(']');
    j.key("dropped").number(d.history.dropped);
    j.key("observations_ttl").number(d.observations_ttl);
    j.key("lock");
    if (const auto& l = d.history.lock) {
        j.open('{');
        j.key("since").number(l->since).key("until").number(l->until);
        j.key("reason").text(l->reason).key("evidence").text(l->evidence);
        j.key("attempts_after").number(l->attempts_after);
        j.key("last_attempt").number(l->last_attempt);
        j.key("ttl").number(d.lock_ttl);
        j.close('}');
    } else {
        j.null();
    }
    j.key("rate").open('{');
    for (auto& [field, count] : d.rate)
        j.key(field).number(count);
    j.close('}');
    j.key("rate_ttl").number(d.rate_ttl);
    marks_json(j, "marks", d.marks);
    marks_json(j, "rate_marks", d.rate_marks);
    j.close('}');
    return j.take();
}

UserDump parse_dump(std::string_view line) {
    Value doc = json::parse(line);
    if (!std::holds_alternative<json::Object>(doc.v)) throw std::runtime_error("not an object");
    UserDump d;
    d.user = string_field(doc, "user");
    if (d.user.empty()) throw std::runtime_error("empty user");
    if (const Value* obs = doc.find("observations"); obs && !obs->is_null()) {
        auto* list = std::get_if<json::Array>(&obs->v);
        if (!list) throw std::runtime_error("\"observations\" is not a list");
        for (auto& item : *list) {
            Observation o;
            std::string kind = string_field(item, "kind");
            if (kind == "success")
                o.kind = Observation::Kind::success;
            else if (kind == "failure")
                o.kind = Observation::Kind::failure;
            else
                throw std::runtime_error("unknown observation kind '" + kind + "'");
            o.address = string_field(item, "address");
            if (o.address.empty()) throw std::runtime_error("empty address");
            o.first = int_field(item, "first");
            o.last = int_field(item, "last");
            o.count = int_field(item, "count");
            if (const Value* fp = item.find("fingerprint"); fp && !fp->is_null()) {
                std::int64_t f = int_field(item, "fingerprint");
                if (f < 0 || f > 0xffff) throw std::runtime_error("fingerprint out of range");
                o.fingerprint = static_cast<std::uint16_t>(f);
            }
            if (const Value* service = item.find("service"); service && !service->is_null())
                o.service = string_field(item, "service");
            d.history.observations.push_back(std::move(o));
        }
    }
    d.history.dropped = int_field(doc, "dropped", false);
    d.observations_ttl = int_field(doc, "observations_ttl", false);
    if (const Value* lock = doc.find("lock"); lock && !lock->is_null()) {
        Lock l;
        l.since = int_field(*lock, "since");
        l.until = int_field(*lock, "until");
        l.reason = string_field(*lock, "reason");
        l.evidence = string_field(*lock, "evidence");
        l.attempts_after = int_field(*lock, "attempts_after", false);
        l.last_attempt = int_field(*lock, "last_attempt", false);
        d.lock_ttl = int_field(*lock, "ttl", false);
        d.history.lock = std::move(l);
    }
    if (const Value* rate = doc.find("rate"); rate && !rate->is_null()) {
        auto* buckets = std::get_if<json::Object>(&rate->v);
        if (!buckets) throw std::runtime_error("\"rate\" is not an object");
        for (auto& [field, count] : *buckets) {
            auto* n = std::get_if<std::int64_t>(&count.v);
            if (!n) throw std::runtime_error("rate bucket '" + field + "' is not a whole number");
            d.rate.emplace_back(field, *n);
        }
    }
    d.rate_ttl = int_field(doc, "rate_ttl", false);
    d.marks = marks_field(doc, "marks");
    d.rate_marks = marks_field(doc, "rate_marks");
    return d;
}

} // namespace authguard
