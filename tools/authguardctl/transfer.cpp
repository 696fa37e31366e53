// transfer.cpp - authguardctl export, import and gc: moving every user's
// state between stores (Redis to the embedded LMDB store and back) as JSON
// lines, and collecting the LMDB store's expired keys.
//
// One line per user:
//   {"user":"alice@example.com",
//    "observations":[{"kind":"success","address":"192.0.2.1","first":T,"last":T,
//                     "count":N[,"fingerprint":F]},...],
//    "dropped":N,"observations_ttl":S,
//    "lock":{"since":T,"until":T,"reason":"...","evidence":"...",
//            "attempts_after":N,"last_attempt":T,"ttl":S} or null,
//    "rate":{"s<n>m":N,...},"rate_ttl":S,
//    "marks":{"<follower>":"<token>",...},"rate_marks":{...}}
// (marks: where each log follower stands, see authguardctl follow; absent in
// older exports).
// A *_ttl is the seconds the key has left (0: none), so that a copy ages as
// the original would, whichever clock the other store runs on. Strings are
// written by json_string (output.cpp): valid UTF-8 as is, any other byte as
// \u00XX, which import reads back as that byte, so user names of any bytes
// survive the round trip.
#include "ctl.hpp"

#include "authguard/lmdb_store.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <variant>

namespace authguardctl {

namespace ag = authguard;

namespace {

// --- a small JSON reader, for the lines export writes ---

struct JsonValue;
using JsonObject = std::vector<std::pair<std::string, JsonValue>>; // in document order
using JsonArray = std::vector<JsonValue>;

struct JsonValue {
    std::variant<std::nullptr_t, bool, std::int64_t, std::string, JsonArray, JsonObject> v;

    bool is_null() const { return std::holds_alternative<std::nullptr_t>(v); }
    const JsonValue* find(std::string_view key) const {
        if (auto* o = std::get_if<JsonObject>(&v))
            for (auto& [k, value] : *o)
                if (k == key) return &value;
        return nullptr;
    }
};

class JsonReader {
  public:
    explicit JsonReader(std::string_view text) : text_(text) {}

    JsonValue document() {
        JsonValue v = value(0);
        space();
        if (pos_ != text_.size()) fail("text after the object");
        return v;
    }

  private:
    [[noreturn]] void fail(const std::string& why) const {
        throw std::runtime_error(why + " at column " + std::to_string(pos_ + 1));
    }
    void space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                       text_[pos_] == '\r' || text_[pos_] == '\n'))
            ++pos_;
    }
    bool take(char c) {
        space();
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    void expect(char c) {
        if (!take(c)) fail(std::string("expected '") + c + "'");
    }
    bool word(std::string_view w) {
        if (text_.substr(pos_, w.size()) != w) return false;
        pos_ += w.size();
        return true;
    }

    JsonValue value(int depth) {
        if (depth > 16) fail("nested too deeply");
        space();
        if (pos_ >= text_.size()) fail("unexpected end");
        char c = text_[pos_];
        if (c == '{') return JsonValue{object(depth)};
        if (c == '[') return JsonValue{array(depth)};
        if (c == '"') return JsonValue{string()};
        if (word("null")) return JsonValue{nullptr};
        if (word("true")) return JsonValue{true};
        if (word("false")) return JsonValue{false};
        return JsonValue{number()};
    }

    JsonObject object(int depth) {
        JsonObject o;
        expect('{');
        if (take('}')) return o;
        do {
            space();
            if (pos_ >= text_.size() || text_[pos_] != '"') fail("expected a key");
            std::string key = string();
            expect(':');
            o.emplace_back(std::move(key), value(depth + 1));
        } while (take(','));
        expect('}');
        return o;
    }

    JsonArray array(int depth) {
        JsonArray a;
        expect('[');
        if (take(']')) return a;
        do a.push_back(value(depth + 1));
        while (take(','));
        expect(']');
        return a;
    }

    std::int64_t number() {
        std::size_t start = pos_;
        if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
        while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
        std::int64_t n = 0;
        auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, n);
        if (ec != std::errc{} || end != text_.data() + pos_ || pos_ == start) {
            pos_ = start;
            fail("expected a value (whole numbers only)");
        }
        return n;
    }

    unsigned hex4() {
        if (pos_ + 4 > text_.size()) fail("short \\u escape");
        unsigned n = 0;
        for (int i = 0; i < 4; ++i) {
            char h = text_[pos_++];
            n <<= 4;
            if (h >= '0' && h <= '9') n |= static_cast<unsigned>(h - '0');
            else if (h >= 'a' && h <= 'f') n |= static_cast<unsigned>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') n |= static_cast<unsigned>(h - 'A' + 10);
            else fail("bad \\u escape");
        }
        return n;
    }

    static void utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        }
    }

    std::string string() {
        std::string out;
        ++pos_; // the opening quote
        while (pos_ < text_.size() && text_[pos_] != '"') {
            char c = text_[pos_++];
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= text_.size()) break;
            char e = text_[pos_++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned cp = hex4();
                if (cp <= 0xff) { // a byte, as json_string writes one
                    out += static_cast<char>(cp);
                } else if (cp >= 0xd800 && cp < 0xdc00 && word("\\u")) {
                    unsigned low = hex4();
                    utf8(out, 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00));
                } else {
                    utf8(out, cp);
                }
                break;
            }
            default: fail("bad escape");
            }
        }
        if (pos_ >= text_.size()) fail("unterminated string");
        ++pos_;
        return out;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

std::int64_t int_field(const JsonValue& o, std::string_view key, bool required = true) {
    const JsonValue* v = o.find(key);
    if (!v || v->is_null()) {
        if (required) throw std::runtime_error("missing \"" + std::string(key) + "\"");
        return 0;
    }
    if (auto* n = std::get_if<std::int64_t>(&v->v)) return *n;
    throw std::runtime_error("\"" + std::string(key) + "\" is not a whole number");
}

std::string string_field(const JsonValue& o, std::string_view key) {
    const JsonValue* v = o.find(key);
    if (auto* s = v ? std::get_if<std::string>(&v->v) : nullptr) return *s;
    throw std::runtime_error("\"" + std::string(key) + "\" is missing or not a string");
}

// {"<follower>":"<token>",...}, optional.
using Marks = std::vector<std::pair<std::string, std::string>>;

Marks marks_field(const JsonValue& o, std::string_view key) {
    Marks out;
    const JsonValue* v = o.find(key);
    if (!v || v->is_null()) return out;
    auto* marks = std::get_if<JsonObject>(&v->v);
    if (!marks) throw std::runtime_error("\"" + std::string(key) + "\" is not an object");
    for (auto& [follower, token] : *marks) {
        auto* text = std::get_if<std::string>(&token.v);
        if (follower.empty() || !text)
            throw std::runtime_error("a bad mark in \"" + std::string(key) + "\"");
        out.emplace_back(follower, *text);
    }
    return out;
}

void marks_json(Json& j, std::string_view key, const Marks& marks) {
    j.key(key).begin_object();
    for (auto& [follower, token] : marks) j.key(follower).value(token);
    j.end_object();
}

ag::UserDump parse_dump(std::string_view line) {
    JsonValue doc = JsonReader(line).document();
    if (!std::holds_alternative<JsonObject>(doc.v)) throw std::runtime_error("not an object");
    ag::UserDump d;
    d.user = string_field(doc, "user");
    if (d.user.empty()) throw std::runtime_error("empty user");
    if (const JsonValue* obs = doc.find("observations"); obs && !obs->is_null()) {
        auto* list = std::get_if<JsonArray>(&obs->v);
        if (!list) throw std::runtime_error("\"observations\" is not a list");
        for (auto& item : *list) {
            ag::Observation o;
            std::string kind = string_field(item, "kind");
            if (kind == "success") o.kind = ag::Observation::Kind::success;
            else if (kind == "failure") o.kind = ag::Observation::Kind::failure;
            else throw std::runtime_error("unknown observation kind '" + kind + "'");
            o.address = string_field(item, "address");
            if (o.address.empty()) throw std::runtime_error("empty address");
            o.first = int_field(item, "first");
            o.last = int_field(item, "last");
            o.count = int_field(item, "count");
            if (const JsonValue* fp = item.find("fingerprint"); fp && !fp->is_null()) {
                std::int64_t f = int_field(item, "fingerprint");
                if (f < 0 || f > 0xffff) throw std::runtime_error("fingerprint out of range");
                o.fingerprint = static_cast<std::uint16_t>(f);
            }
            d.history.observations.push_back(std::move(o));
        }
    }
    d.history.dropped = int_field(doc, "dropped", false);
    d.observations_ttl = int_field(doc, "observations_ttl", false);
    if (const JsonValue* lock = doc.find("lock"); lock && !lock->is_null()) {
        ag::Lock l;
        l.since = int_field(*lock, "since");
        l.until = int_field(*lock, "until");
        l.reason = string_field(*lock, "reason");
        l.evidence = string_field(*lock, "evidence");
        l.attempts_after = int_field(*lock, "attempts_after", false);
        l.last_attempt = int_field(*lock, "last_attempt", false);
        d.lock_ttl = int_field(*lock, "ttl", false);
        d.history.lock = std::move(l);
    }
    if (const JsonValue* rate = doc.find("rate"); rate && !rate->is_null()) {
        auto* buckets = std::get_if<JsonObject>(&rate->v);
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

void print_dump(const ag::UserDump& d) {
    Json j;
    j.begin_object().key("user").value(d.user);
    j.key("observations").begin_array();
    for (auto& o : d.history.observations) {
        j.begin_object();
        j.key("kind").value(o.kind == ag::Observation::Kind::success ? "success" : "failure");
        j.key("address").value(o.address);
        j.key("first").value(o.first).key("last").value(o.last).key("count").value(o.count);
        if (o.fingerprint) j.key("fingerprint").value(static_cast<std::int64_t>(*o.fingerprint));
        j.end_object();
    }
    j.end_array();
    j.key("dropped").value(d.history.dropped);
    j.key("observations_ttl").value(d.observations_ttl);
    j.key("lock");
    if (const auto& l = d.history.lock) {
        j.begin_object();
        j.key("since").value(l->since).key("until").value(l->until);
        j.key("reason").value(l->reason).key("evidence").value(l->evidence);
        j.key("attempts_after").value(l->attempts_after).key("last_attempt").value(l->last_attempt);
        j.key("ttl").value(d.lock_ttl);
        j.end_object();
    } else {
        j.null();
    }
    j.key("rate").begin_object();
    for (auto& [field, count] : d.rate) j.key(field).value(count);
    j.end_object();
    j.key("rate_ttl").value(d.rate_ttl);
    marks_json(j, "marks", d.marks);
    marks_json(j, "rate_marks", d.rate_marks);
    j.end_object();
    print_json(j);
}

} // namespace

int cmd_export(Context& ctx) {
    ag::Store& store = ctx.store();
    std::vector<std::string> users;
    if (ctx.args.empty()) {
        users = store.users();
    } else {
        for (std::size_t i = 0; i < ctx.args.size(); ++i) users.push_back(ctx.user_arg(i));
    }
    std::size_t written = 0;
    for (auto& user : users) {
        ag::UserDump d = store.dump(user);
        if (d.history.observations.empty() && d.history.dropped == 0 && !d.history.lock &&
            d.rate.empty())
            continue; // expired since users() listed it, or never there
        print_dump(d);
        ++written;
    }
    if (!ctx.args.empty() && written == 0) throw NotFound("nothing stored for the users given");
    return exit_ok;
}

int cmd_import(Context& ctx) {
    std::string path = ctx.args.empty() ? "-" : ctx.args[0];
    std::ifstream file;
    std::istream* in = &std::cin;
    if (path != "-") {
        file.open(path);
        if (!file) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
        in = &file;
    }
    // Every line is read and checked first: a bad file changes nothing.
    std::vector<ag::UserDump> dumps;
    std::string line;
    for (int number = 1; std::getline(*in, line); ++number) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        try {
            dumps.push_back(parse_dump(line));
        } catch (const std::exception& e) {
            throw UsageError(path + ":" + std::to_string(number) + ": " + e.what());
        }
    }
    ag::Store& store = ctx.store();
    std::int64_t locks = 0, observations = 0;
    for (auto& d : dumps) {
        store.restore(d);
        locks += d.history.lock ? 1 : 0;
        observations += static_cast<std::int64_t>(d.history.observations.size());
    }
    if (ctx.json) {
        Json j;
        j.begin_object().key("users").value(static_cast<std::int64_t>(dumps.size()));
        j.key("locks").value(locks).key("observations").value(observations).end_object();
        print_json(j);
    } else {
        std::cout << "imported " << dumps.size() << " users (" << observations
                  << " observations, " << locks << " locks)\n";
    }
    return exit_ok;
}

int cmd_gc(Context& ctx) {
    const ag::Config& config = ctx.config();
    auto* lmdb = dynamic_cast<ag::LmdbStore*>(&ctx.store());
    if (!lmdb) {
        if (ctx.json) {
            Json j;
            j.begin_object().key("store").value("redis").key("removed").value(0).end_object();
            print_json(j);
        } else {
            std::cout << "nothing to do: Redis expires authguard's keys itself\n";
        }
        return exit_ok;
    }
    auto before = lmdb->usage();
    auto r = lmdb->gc();
    auto after = lmdb->usage();
    if (ctx.json) {
        Json j;
        j.begin_object().key("store").value("lmdb").key("path").value(config.store.lmdb_path);
        j.key("keys").value(r.keys).key("removed").value(r.removed);
        j.key("stale_readers").value(r.stale_readers);
        j.key("used_bytes_before").value(before.used_bytes).key("used_bytes").value(after.used_bytes);
        j.key("tree_bytes").value(after.tree_bytes).key("file_bytes").value(after.file_bytes);
        j.end_object();
        print_json(j);
    } else {
        std::cout << "lmdb " << esc(config.store.lmdb_path) << ": " << r.removed
                  << " expired keys removed of " << r.keys << "; data " << after.tree_bytes
                  << " bytes, file " << after.file_bytes << " bytes (free pages are reused)\n";
    }
    return exit_ok;
}

} // namespace authguardctl
