// dkim_header.cpp - libFuzzer harness: the message header as authguard-dkim
// reads it from its spool (lib/dkim/message.cpp), checked against the
// parser's own promises: the fields are the message's bytes, contiguous
// from offset 0, so that the message can be handed on byte-exact without
// some of them; a prefix of the message never yields a field the whole
// message does not; the CRLF feed gives the same bytes however the message
// is cut into chunks; a folded field parses back to one field with the
// same value. The first input byte picks the options (at_end, the bound,
// the fold's line end), the next two the chunk cuts and the bound.
#include "authguard/dkim/message.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace authguard::dkim;

namespace {

void require(bool ok) {
    if (!ok) std::abort();
}

bool blank(char c) {
    return c == ' ' || c == '\t';
}

// The LF-to-CRLF conversion done the slow, obvious way.
std::string crlf_reference(std::string_view in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r')) out += '\r';
        out += in[i];
    }
    return out;
}

// White space runs (blanks and line ends) as one space, none at the ends.
std::string normalised(std::string_view s) {
    std::string out;
    bool space = false;
    for (char c : s) {
        if (blank(c) || c == '\r' || c == '\n') {
            space = !out.empty();
        } else {
            if (space) out += ' ';
            space = false;
            out += c;
        }
    }
    return out;
}

void check_block(const HeaderBlock& h, std::string_view m, bool at_end, std::size_t largest) {
    std::size_t at = 0;
    for (const auto& f : h.fields) {
        require(f.offset == at);
        require(f.offset + f.raw.size() <= m.size());
        require(m.substr(f.offset, f.raw.size()) == f.raw);
        require(!f.name.empty() && f.raw.compare(0, f.name.size(), f.name) == 0);
        std::size_t k = f.name.size();
        while (k < f.raw.size() && blank(f.raw[k]))
            ++k;
        require(k < f.raw.size() && f.raw[k] == ':');
        for (char c : f.name)
            require(c > 32 && c < 127 && c != ':');
        require(f.value().find('\n') == std::string::npos);
        at += f.raw.size();
    }
    require(h.body_offset <= m.size());
    require(at <= h.body_offset);
    require(int(h.complete) + int(h.malformed) + int(h.too_large) <= 1);
    if (h.complete) {
        require(h.body_offset <= largest);
        auto empty_line = m.substr(at, h.body_offset - at);
        require(empty_line == "\n" || empty_line == "\r\n" ||
                (empty_line.empty() && at_end && h.body_offset == m.size()));
    } else {
        // Stopped short: the raw fields are exactly the bytes up to there.
        require(at == h.body_offset);
    }
    if (h.too_large) require(m.size() > largest && at <= largest);
    if (h.malformed) {
        require(h.body_offset < m.size());
        require(h.body_offset == 0 || !blank(m[h.body_offset]));
    }
    if (!at_end && h.complete) require(h.body_offset > at); // an empty line was seen
}

// Feeds `m` in chunks whose sizes come from `cuts` (0 included: empty chunks).
std::string crlf_chunked(std::string_view m, std::string_view cuts) {
    CrlfFeed feed;
    std::string out;
    std::size_t pos = 0, c = 0;
    while (pos < m.size()) {
        std::size_t n =
            cuts.empty() ? m.size() : static_cast<unsigned char>(cuts[c++ % cuts.size()]) % 8;
        n = std::min(n, m.size() - pos);
        feed.convert(m.substr(pos, n), out);
        pos += n;
        if (c > 4 * m.size() + 16) { // cuts of zeros only: feed the rest whole
            feed.convert(m.substr(pos), out);
            break;
        }
    }
    feed.finish(out);
    return out;
}

void check_fold(std::string_view name, std::string_view value, LineEnd le) {
    std::string out = fold_field(name, value, le);
    auto h = parse_header(out, true, out.size() + 1);
    require(h.complete && !h.malformed && !h.too_large && !h.mixed_line_ends);
    require(h.fields.size() == 1 && h.body_offset == out.size());
    require(h.fields[0].name == name && h.line_end == le);
    require(normalised(h.fields[0].value()) == normalised(value));
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (le == LineEnd::lf) {
            require(out[i] != '\r');
        } else {
            if (out[i] == '\r') require(i + 1 < out.size() && out[i + 1] == '\n');
            if (out[i] == '\n') require(i > 0 && out[i - 1] == '\r');
        }
    }
    // A line over 78 columns is one word that could not be broken.
    std::string_view rest = out;
    bool first = true;
    while (!rest.empty()) {
        auto nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest.remove_prefix(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() <= 78) {
            first = false;
            continue;
        }
        if (first) line.remove_prefix(name.size() + 1);
        first = false;
        while (!line.empty() && blank(line.front()))
            line.remove_prefix(1);
        for (char c : line)
            require(!blank(c));
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    const unsigned flags = data[0];
    const bool at_end = flags & 1;
    const std::size_t largest =
        flags & 2 ? std::size_t{1} << 20 : (std::size_t{data[1]} | std::size_t{data[2]} << 8);
    const LineEnd le = flags & 4 ? LineEnd::crlf : LineEnd::lf;
    std::string_view m(reinterpret_cast<const char*>(data) + 3, size - 3);

    auto h = parse_header(m, at_end, largest);
    check_block(h, m, at_end, largest);

    // A prefix of the message, not at its end: the same fields, fewer or
    // as many, never others; a decision it makes, the whole makes too.
    std::size_t cut = (std::size_t{data[1]} * 7 + data[2]) % (m.size() + 1);
    auto p = parse_header(m.substr(0, cut), false, largest);
    check_block(p, m.substr(0, cut), false, largest);
    require(p.fields.size() <= h.fields.size());
    for (std::size_t i = 0; i < p.fields.size(); ++i)
        require(p.fields[i].offset == h.fields[i].offset && p.fields[i].raw == h.fields[i].raw);
    if (p.complete) require(h.complete && h.body_offset == p.body_offset);
    if (p.malformed) require(h.malformed && h.body_offset == p.body_offset);
    if (p.too_large) require(h.too_large && h.fields.size() == p.fields.size());

    auto a = author_of(h);
    if (a.status == Author::Status::one) {
        require(!a.domain.empty() && a.domain.back() != '.');
        for (char c : a.domain)
            require(!(c >= 'A' && c <= 'Z'));
        std::string lower = a.address;
        for (auto& c : lower)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        std::string tail = "@" + a.domain;
        require(lower.size() > tail.size() &&
                (lower.ends_with(tail) || lower.ends_with(tail + ".")));
    } else {
        require(a.address.empty() && a.domain.empty());
    }

    for (const auto& f : h.fields) {
        require(claims_authserv_id(f, "mx.example.org") == claims_authserv_id(f, "MX.Example.ORG"));
        auto lib = field_for_library(f);
        std::string want = crlf_reference(f.raw);
        if (want.ends_with("\r\n")) want.resize(want.size() - 2);
        require(lib == want);
    }

    std::string whole = crlf_reference(m);
    std::string_view cuts(reinterpret_cast<const char*>(data), std::min<std::size_t>(size, 16));
    require(crlf_chunked(m, {}) == whole);
    require(crlf_chunked(m, cuts) == whole);

    static constexpr std::string_view names[] = {"DKIM-Signature", "Authentication-Results", "X",
                                                 "A-Very-Long-Header-Field-Name-That-Fills-Much-"
                                                 "Of-The-First-Line-Of-The-Field"};
    check_fold(names[(flags >> 3) % 4], m, le);
    // A field we fold claims our authserv-id when given it, and no other.
    auto ar =
        parse_header(fold_field("Authentication-Results", "mx.example.org; " + std::string(m), le),
                     true, std::size_t{1} << 30);
    if (ar.fields.size() == 1) {
        require(claims_authserv_id(ar.fields[0], "MX.example.org"));
        require(!claims_authserv_id(ar.fields[0], "other.example.org"));
    }
    return 0;
}
