// json.cpp - JSON strings for arbitrary bytes, and the reader for the lines
// authguardctl export writes (see json.hpp). The reader takes files from
// elsewhere (another host's export, a hand edit): every malformed input is
// a ParseError naming the column, and its depth is bounded.
#include "authguard/json.hpp"

#include <charconv>

namespace authguard::json {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when invalid
// (overlong forms, surrogates and code points past U+10FFFF are invalid).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xbf) {
        return k < s.size() && at(k) >= lo && at(k) <= hi;
    };
    unsigned char c = at(i);
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return cont(i + 1) ? 2 : 0;
    if (c == 0xe0) return cont(i + 1, 0xa0) && cont(i + 2) ? 3 : 0;
    if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
        return cont(i + 1) && cont(i + 2) ? 3 : 0;
    if (c == 0xed) return cont(i + 1, 0x80, 0x9f) && cont(i + 2) ? 3 : 0;
    if (c == 0xf0) return cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    if (c >= 0xf1 && c <= 0xf3) return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    if (c == 0xf4) return cont(i + 1, 0x80, 0x8f) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    return 0;
}

void unicode_escape(std::string& out, unsigned char c) {
    static constexpr char hex[] = "0123456789abcdef";
    out += "\\u00";
    out += hex[c >> 4];
    out += hex[c & 15];
}

class Reader {
  public:
    explicit Reader(std::string_view text) : text_(text) {}

    Value document() {
        Value v = value(0);
        space();
        if (pos_ != text_.size()) fail("text after the object");
        return v;
    }

  private:
    [[noreturn]] void fail(const std::string& why) const {
        throw ParseError(why + " at column " + std::to_string(pos_ + 1));
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

    Value value(int depth) {
        if (depth > 16) fail("nested too deeply");
        space();
        if (pos_ >= text_.size()) fail("unexpected end");
        char c = text_[pos_];
        if (c == '{') return Value{object(depth)};
        if (c == '[') return Value{array(depth)};
        if (c == '"') return Value{string()};
        if (word("null")) return Value{nullptr};
        if (word("true")) return Value{true};
        if (word("false")) return Value{false};
        return Value{number()};
    }

    Object object(int depth) {
        Object o;
        expect('{');
        if (take('}')) return o;
        do {
            space();
            if (pos_ >= text_.size() || text_[pos_] != '"') fail("expected a key");
            std::string key = string();
            expect(':');
            o.push_back(Member{std::move(key), value(depth + 1)});
        } while (take(','));
        expect('}');
        return o;
    }

    Array array(int depth) {
        Array a;
        expect('[');
        if (take(']')) return a;
        do
            a.push_back(value(depth + 1));
        while (take(','));
        expect(']');
        return a;
    }

    std::int64_t number() {
        std::size_t start = pos_;
        if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
        while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9')
            ++pos_;
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
            if (h >= '0' && h <= '9')
                n |= static_cast<unsigned>(h - '0');
            else if (h >= 'a' && h <= 'f')
                n |= static_cast<unsigned>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F')
                n |= static_cast<unsigned>(h - 'A' + 10);
            else
                fail("bad \\u escape");
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
            case '"':
                out += '"';
                break;
            case '\\':
                out += '\\';
                break;
            case '/':
                out += '/';
                break;
            case 'b':
                out += '\b';
                break;
            case 'f':
                out += '\f';
                break;
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            case 't':
                out += '\t';
                break;
            case 'u': {
                unsigned cp = hex4();
                if (cp <= 0xff) { // a byte, as quote() writes one
                    out += static_cast<char>(cp);
                } else if (cp >= 0xd800 && cp < 0xdc00 && word("\\u")) {
                    unsigned low = hex4();
                    utf8(out, 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00));
                } else {
                    utf8(out, cp);
                }
                break;
            }
            default:
                fail("bad escape");
            }
        }
        if (pos_ >= text_.size()) fail("unterminated string");
        ++pos_;
        return out;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

} // namespace

std::string quote(std::string_view bytes) {
    std::string out = "\"";
    for (std::size_t i = 0; i < bytes.size();) {
        auto c = static_cast<unsigned char>(bytes[i]);
        if (c == '"') {
            out += "\\\"";
        } else if (c == '\\') {
            out += "\\\\";
        } else if (c < 0x20 || c == 0x7f) {
            unicode_escape(out, c);
        } else if (c < 0x80) {
            out += static_cast<char>(c);
        } else if (std::size_t n = utf8_sequence(bytes, i); n > 0) {
            out.append(bytes.substr(i, n));
            i += n;
            continue;
        } else {
            unicode_escape(out, c);
        }
        ++i;
    }
    out += '"';
    return out;
}

const Value* Value::find(std::string_view key) const {
    if (auto* o = std::get_if<Object>(&v))
        for (auto& [k, value] : *o)
            if (k == key) return &value;
    return nullptr;
}

Value parse(std::string_view text) {
    return Reader(text).document();
}

} // namespace authguard::json
