// dkim/message.cpp - the byte-level reading of a message for authguard-dkim
// (include/authguard/dkim/message.hpp): the header block with exact byte
// offsets, the From: author (RFC 5322 §3.4 address syntax, obsolete forms
// included), the authserv-id of Authentication-Results (RFC 8601 §2.2), the
// LF-to-CRLF conversion libopendkim needs, and header folding. Every loop
// walks its input once (the address parser twice) and nothing stores a
// token list, so that a hostile header costs linear time and little memory.
#include "authguard/dkim/message.hpp"

#include <algorithm>
#include <cstring>

namespace authguard::dkim {

namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

// RFC 5322 §3.6.8 ftext: printable US-ASCII except ':'.
bool is_ftext(char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 33 && u <= 126 && c != ':';
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

// ---------------------------------------------------------------------
// Structured field values: RFC 5322 §3.2 lexical tokens, CFWS dropped.

struct Token {
    enum class Kind { atom, quoted, literal, special } kind;
    std::string_view text; // as written: quotes and brackets included
    char special() const { return kind == Kind::special ? text[0] : '\0'; }
};

// Skips folding white space and comments (nested, with quoted pairs).
// False for a comment that never ends.
bool skip_cfws(std::string_view s, std::size_t& i) {
    while (i < s.size()) {
        char c = s[i];
        if (is_blank(c) || c == '\r' || c == '\n') {
            ++i;
        } else if (c == '(') {
            std::size_t depth = 0;
            while (i < s.size()) {
                char d = s[i++];
                if (d == '\\') {
                    if (i < s.size()) ++i;
                } else if (d == '(') {
                    ++depth;
                } else if (d == ')') {
                    if (--depth == 0) break;
                }
            }
            if (depth != 0) return false;
        } else {
            break;
        }
    }
    return true;
}

// Ends a quoted string (opened at s[i] == '"') or a domain literal
// (s[i] == '['): i is left just past the closing character.
bool skip_delimited(std::string_view s, std::size_t& i, char close) {
    ++i;
    while (i < s.size()) {
        char c = s[i++];
        if (c == '\\') {
            if (i >= s.size()) return false;
            ++i;
        } else if (c == close) {
            return true;
        } else if (close == ']' && c == '[') {
            return false;
        }
    }
    return false;
}

bool is_special(char c) {
    return std::strchr("()<>[]:;@\\,.\"", c) != nullptr && c != '\0';
}

// RFC 5322 atext, widened to every byte above 127 (RFC 6532 UTF-8 headers).
bool is_atext(char c) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 128) return true;
    return u > 32 && u < 127 && !is_special(c);
}

// Reads the tokens of s[from, to) one at a time. Nothing is stored: the
// address parser reads an element's tokens once to find where it ends and
// once more to check it, so that a hostile 1 MB From: costs no token list.
class Lexer {
  public:
    Lexer(std::string_view s, std::size_t from, std::size_t to) : s_(s.substr(0, to)), i_(from) {}
    // The next token; false at the end, or when the text is not lexically
    // valid (an open quote, comment or literal, a control character, a
    // stray backslash): then bad().
    bool next(Token& t) {
        if (!skip_cfws(s_, i_)) return fail();
        if (i_ >= s_.size()) return false;
        std::size_t start = i_;
        char c = s_[i_];
        if (c == '"' || c == '[') {
            if (!skip_delimited(s_, i_, c == '"' ? '"' : ']')) return fail();
            t = {c == '"' ? Token::Kind::quoted : Token::Kind::literal,
                 s_.substr(start, i_ - start)};
        } else if (is_atext(c)) {
            while (i_ < s_.size() && is_atext(s_[i_]))
                ++i_;
            t = {Token::Kind::atom, s_.substr(start, i_ - start)};
        } else if (is_special(c) && c != '\\' && c != ')') {
            ++i_;
            t = {Token::Kind::special, s_.substr(start, 1)};
        } else {
            return fail();
        }
        return true;
    }
    bool bad() const { return bad_; }
    // Where token t starts in the text.
    std::size_t offset(const Token& t) const {
        return static_cast<std::size_t>(t.text.data() - s_.data());
    }

  private:
    bool fail() {
        bad_ = true;
        i_ = s_.size();
        return false;
    }
    std::string_view s_;
    std::size_t i_;
    bool bad_ = false;
};

bool is_word(const Token& t) {
    return t.kind == Token::Kind::atom || t.kind == Token::Kind::quoted;
}

// A display name in s[from, to): obs-phrase's words and dots (RFC 5322
// §4.1); empty only where `may_be_empty`.
bool is_phrase(std::string_view s, std::size_t from, std::size_t to, bool may_be_empty) {
    Lexer lx(s, from, to);
    Token t;
    bool any = false;
    while (lx.next(t)) {
        if (!is_word(t) && t.special() != '.') return false;
        any = true;
    }
    return !lx.bad() && (any || may_be_empty);
}

struct Mailbox {
    std::string address;
    std::string domain;
};

// addr-spec = local-part "@" domain, in s[from, to). The local part is
// taken as written (words and dots; obs-local-part leniency about the dots:
// RFC 5321 decides on delivery, not us); the domain must be dot-separated
// atoms (a final dot allowed and dropped) or a domain literal.
std::optional<Mailbox> addr_spec(std::string_view s, std::size_t from, std::size_t to) {
    Lexer lx(s, from, to);
    Token t;
    Mailbox m;
    bool word = false, after_word = false, at = false, want_label = true, literal = false;
    char last = '\0';
    while (lx.next(t)) {
        last = t.special();
        if (!at) {
            if (last == '@') {
                if (!word) return std::nullopt;
                at = true;
                m.address += '@';
                continue;
            }
            if (is_word(t)) {
                if (after_word) return std::nullopt; // "John Doe@x": two words, no dot
                word = after_word = true;
            } else if (last == '.') {
                after_word = false; // "a..b", ".a": seen in the wild
            } else {
                return std::nullopt;
            }
            m.address += t.text;
            continue;
        }
        if (literal) return std::nullopt; // anything after "[...]"
        if (t.kind == Token::Kind::literal && m.domain.empty()) {
            literal = true;
        } else if (want_label ? t.kind != Token::Kind::atom : last != '.') {
            return std::nullopt;
        } else {
            want_label = !want_label;
        }
        m.domain += t.text;
        m.address += t.text;
    }
    if (lx.bad() || !at || m.domain.empty()) return std::nullopt;
    if (!literal && want_label) m.domain.pop_back(); // "example.com.": the root's dot
    if (m.domain.empty()) return std::nullopt;
    for (auto& c : m.domain)
        c = lower(c);
    return m;
}

struct Mailboxes {
    std::size_t count = 0;
    Mailbox first; // all authguard-dkim needs: the one author, or that there are several
};

// The mailboxes of an address list (RFC 5322 §3.4, with §4.4's empty list
// elements): display names, angle addresses with an obsolete route, groups
// (not nested). nullopt when it is not one.
std::optional<Mailboxes> address_list(std::string_view s) {
    Mailboxes found;
    auto take = [&](std::optional<Mailbox>&& m) {
        if (!m) return false;
        if (found.count++ == 0) found.first = std::move(*m);
        return true;
    };
    Lexer lx(s, 0, s.size());
    Token t;
    bool in_group = false;
    bool have = lx.next(t);
    auto after_item = [&]() { // what may follow a mailbox or a group
        return !have || t.special() == ',' || (in_group && t.special() == ';');
    };
    while (have) {
        char sp = t.special();
        if (sp == ',') {
            have = lx.next(t);
            continue;
        }
        if (sp == ';') {
            if (!in_group) return std::nullopt;
            in_group = false;
            have = lx.next(t);
            if (!after_item()) return std::nullopt;
            continue;
        }
        // The element's words, up to the special that says what it is.
        std::size_t from = lx.offset(t);
        while (have && (t.kind != Token::Kind::special || t.special() == '.' || t.special() == '@'))
            have = lx.next(t);
        if (lx.bad()) return std::nullopt;
        std::size_t to = have ? lx.offset(t) : s.size();
        char stop = have ? t.special() : '\0';
        if (stop == ':') { // a group's display name
            if (in_group || !is_phrase(s, from, to, false)) return std::nullopt;
            in_group = true;
            have = lx.next(t);
            continue;
        }
        if (stop == '<') { // name-addr
            if (!is_phrase(s, from, to, true)) return std::nullopt;
            have = lx.next(t);
            if (have && t.special() == '@') { // obs-route: "@a,@b:"
                while (have && t.special() != ':') {
                    char r = t.special();
                    if (t.kind != Token::Kind::atom && r != '@' && r != ',' && r != '.')
                        return std::nullopt;
                    have = lx.next(t);
                }
                if (!have) return std::nullopt;
                have = lx.next(t);
            }
            std::size_t spec = have ? lx.offset(t) : s.size();
            while (have && t.special() != '>')
                have = lx.next(t);
            if (!have) return std::nullopt;
            if (!take(addr_spec(s, spec, lx.offset(t)))) return std::nullopt;
            have = lx.next(t);
        } else if (!take(addr_spec(s, from, to))) {
            return std::nullopt;
        }
        if (!after_item()) return std::nullopt;
    }
    if (lx.bad() || in_group) return std::nullopt;
    return found;
}

} // namespace

std::string HeaderField::value() const {
    std::string out;
    auto colon = raw.find(':');
    if (colon == std::string::npos) return out;
    std::size_t i = colon + 1;
    while (i < raw.size() && is_blank(raw[i]))
        ++i;
    out.reserve(raw.size() - i);
    while (i < raw.size()) {
        if (raw[i] == '\n') {
            ++i;
        } else if (raw[i] == '\r' && i + 1 < raw.size() && raw[i + 1] == '\n') {
            i += 2;
        } else {
            out += raw[i++];
        }
    }
    // A field that starts "Name:\n\tvalue" has its leading blanks after the
    // removed line end.
    std::size_t lead = 0;
    while (lead < out.size() && is_blank(out[lead]))
        ++lead;
    out.erase(0, lead);
    return out;
}

HeaderBlock parse_header(std::string_view message, bool at_end, std::size_t largest) {
    HeaderBlock h;
    // Lines are looked for only within the bound, so that a message with
    // no line end costs `largest` bytes of search, not its size.
    const std::string_view seen = message.substr(0, std::min(message.size(), largest));
    std::optional<HeaderField> pending; // the field whose continuations may follow
    bool saw_lf = false, saw_crlf = false, first = true;
    std::size_t pos = 0;
    auto commit = [&]() {
        if (pending) h.fields.push_back(std::move(*pending));
        pending.reset();
    };
    // Where parsing stops short of the end of the header: the pending field
    // is whole only if the next byte is known and not a continuation's.
    auto stop_short = [&]() {
        if (pending && pos < message.size() && !is_blank(message[pos])) commit();
        pending.reset();
        h.body_offset = h.fields.empty() ? 0 : h.fields.back().offset + h.fields.back().raw.size();
    };
    while (pos < message.size()) {
        auto lf = seen.find('\n', pos);
        std::size_t next = 0;  // offset after the line and its end
        std::string_view line; // without its line end
        // The line's end, counted once the line is known to be header.
        auto count_end = [&]() {
            if (next > pos && message[next - 1] == '\n')
                (next - 1 > pos && message[next - 2] == '\r' ? saw_crlf : saw_lf) = true;
        };
        if (lf != std::string_view::npos) {
            next = lf + 1;
            bool cr = lf > pos && message[lf - 1] == '\r';
            line = message.substr(pos, lf - pos - (cr ? 1 : 0));
            if (first) h.line_end = cr ? LineEnd::crlf : LineEnd::lf;
        } else if (message.size() > largest) {
            h.too_large = true; // no line end within the bound
            stop_short();
            break;
        } else if (at_end) {
            next = message.size(); // the last line, without a line end
            line = message.substr(pos);
        } else {
            stop_short(); // the line's end has not arrived yet
            break;
        }
        first = false;
        if (line.empty()) { // the empty line ending the header
            count_end();
            commit();
            h.complete = true;
            h.body_offset = next;
            break;
        }
        if (is_blank(line[0])) {
            if (!pending) { // a continuation of nothing
                h.malformed = true;
                stop_short();
                h.body_offset = pos;
                break;
            }
            count_end();
            pending->raw.append(message.substr(pos, next - pos));
            pos = next;
            continue;
        }
        auto colon = line.find(':');
        std::string_view name = line.substr(0, colon == std::string_view::npos ? 0 : colon);
        while (!name.empty() && is_blank(name.back()))
            name.remove_suffix(1); // "Subject :"
        bool ok = !name.empty();
        for (char c : name)
            ok = ok && is_ftext(c);
        if (!ok) {
            h.malformed = true;
            stop_short();
            h.body_offset = pos;
            break;
        }
        count_end();
        commit();
        pending = HeaderField{std::string(name), pos, std::string(message.substr(pos, next - pos))};
        pos = next;
    }
    if (pos >= message.size() && !h.complete && !h.malformed && !h.too_large) {
        if (at_end) { // the message ended in its header: no body
            commit();
            h.complete = true;
            h.body_offset = message.size();
        } else {
            stop_short();
        }
    }
    h.mixed_line_ends = saw_lf && saw_crlf;
    return h;
}

Author author_of(const HeaderBlock& header) {
    Author a;
    const HeaderField* from = nullptr;
    for (const auto& f : header.fields) {
        if (!iequals(f.name, "From")) continue;
        if (from) {
            a.status = Author::Status::several_fields;
            return a;
        }
        from = &f;
    }
    if (!from) return a; // Status::none
    std::string value = from->value();
    auto boxes = address_list(value);
    if (!boxes || boxes->count == 0) {
        a.status = Author::Status::unparsable;
    } else if (boxes->count > 1) {
        a.status = Author::Status::several_mailboxes;
    } else {
        a.status = Author::Status::one;
        a.address = std::move(boxes->first.address);
        a.domain = std::move(boxes->first.domain);
    }
    return a;
}

bool claims_authserv_id(const HeaderField& field, std::string_view authserv_id) {
    // RFC 8601 §2.2: authserv-id = value (RFC 2045: token / quoted-string),
    // then [CFWS authres-version] and ";" (or, from RFC 5451's "none",
    // also ";").
    std::string v = field.value();
    std::string_view s = v;
    std::size_t i = 0;
    if (!skip_cfws(s, i) || i >= s.size()) return true;
    std::string id;
    if (s[i] == '"') {
        std::size_t start = i;
        if (!skip_delimited(s, i, '"')) return true;
        for (std::size_t k = start + 1; k + 1 < i; ++k) {
            if (s[k] == '\\') ++k;
            id += s[k];
        }
    } else {
        // RFC 2045 token: no SPACE, CTLs or tspecials; 8-bit for RFC 8616.
        auto token = [](char c) {
            auto u = static_cast<unsigned char>(c);
            return u > 32 && u != 127 && !std::strchr("()<>@,;:\\\"/[]?=", c);
        };
        std::size_t start = i;
        while (i < s.size() && token(s[i]))
            ++i;
        if (i == start) return true;
        id = s.substr(start, i - start);
    }
    std::size_t before = i;
    if (!skip_cfws(s, i)) return true;
    if (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (i == before) return true; // "id1" would be one token: not reached
        while (i < s.size() && s[i] >= '0' && s[i] <= '9')
            ++i;
        if (!skip_cfws(s, i)) return true;
    }
    if (i >= s.size() || s[i] != ';') return true;
    return iequals(id, authserv_id);
}

void CrlfFeed::convert(std::string_view chunk, std::string& out) {
    if (chunk.empty()) return; // keeps a held CR for the next chunk
    std::size_t i = 0;
    if (held_cr_) {
        held_cr_ = false;
        out += '\r';
        if (chunk[0] == '\n') {
            out += '\n';
            i = 1;
        }
    }
    while (i < chunk.size()) {
        const void* hit = std::memchr(chunk.data() + i, '\n', chunk.size() - i);
        if (!hit) {
            std::size_t end = chunk.size();
            if (chunk[end - 1] == '\r') { // may be the CR of a CRLF split across chunks
                held_cr_ = true;
                --end;
            }
            out.append(chunk.substr(i, end - i));
            break;
        }
        std::size_t lf = static_cast<std::size_t>(static_cast<const char*>(hit) - chunk.data());
        out.append(chunk.substr(i, lf - i));
        out += lf > 0 && chunk[lf - 1] == '\r' ? "\n" : "\r\n";
        i = lf + 1;
    }
}

void CrlfFeed::finish(std::string& out) {
    if (held_cr_) out += '\r';
    held_cr_ = false;
}

std::string field_for_library(const HeaderField& field) {
    std::string out;
    out.reserve(field.raw.size() + 8);
    CrlfFeed feed;
    feed.convert(field.raw, out);
    feed.finish(out);
    if (out.size() >= 2 && out.compare(out.size() - 2, 2, "\r\n") == 0) out.resize(out.size() - 2);
    return out;
}

std::string fold_field(std::string_view name, std::string_view value, LineEnd line_end) {
    constexpr std::size_t width = 78; // RFC 5322 §2.1.1's SHOULD
    const std::string_view eol = line_end == LineEnd::crlf ? "\r\n" : "\n";
    std::string out;
    out.reserve(name.size() + value.size() + value.size() / 32 + 8);
    out.append(name);
    out += ':';
    std::size_t line_start = 0; // offset in `out` of the current line
    bool has_word = false;      // the current line holds part of the value
    bool first_line = true;
    std::size_t i = 0;
    // Leading blanks of the value become the one space after the colon.
    while (i < value.size() && is_blank(value[i]))
        ++i;
    const auto is_eol = [](char c) { return c == '\r' || c == '\n'; };
    while (i < value.size()) {
        if (is_eol(value[i])) {
            // A line end of the value (libopendkim's CRLF TAB): a fold kept
            // where it is, with the blanks after it. Several in a row, lines
            // of blanks only, and line ends at the end of the value
            // collapse: none may end the header early.
            std::size_t k = i, blanks_at = i;
            for (;;) {
                while (k < value.size() && is_eol(value[k]))
                    ++k;
                blanks_at = k;
                while (k < value.size() && is_blank(value[k]))
                    ++k;
                if (k == value.size() || !is_eol(value[k])) break;
            }
            if (k == value.size()) break;
            i = k;
            if (!has_word) continue; // "Name:" then a line end: start on the first line
            out.append(eol);
            line_start = out.size();
            first_line = false;
            has_word = false;
            // A continuation line must start with a blank.
            if (blanks_at == k)
                out += '\t';
            else
                out.append(value.substr(blanks_at, k - blanks_at));
            continue;
        }
        // A run of blanks and the word after it.
        std::size_t ws_end = i;
        while (ws_end < value.size() && is_blank(value[ws_end]))
            ++ws_end;
        std::size_t word_end = ws_end;
        while (word_end < value.size() && !is_blank(value[word_end]) && !is_eol(value[word_end]))
            ++word_end;
        std::string_view blanks = value.substr(i, ws_end - i);
        std::string_view word = value.substr(ws_end, word_end - ws_end);
        if (first_line && !has_word && blanks.empty()) blanks = " ";
        if (word.empty()) { // trailing blanks, or blanks before a line end
            if (word_end == value.size()) break;
            i = word_end;
            continue;
        }
        std::size_t column = out.size() - line_start;
        if (has_word && column + blanks.size() + word.size() > width) {
            out.append(eol); // the blanks become the fold
            line_start = out.size();
            first_line = false;
            out += '\t';
        } else {
            out.append(blanks);
        }
        out.append(word);
        has_word = true;
        i = word_end;
    }
    out.append(eol);
    return out;
}

} // namespace authguard::dkim
