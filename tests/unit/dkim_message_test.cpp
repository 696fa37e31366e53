// dkim_message_test.cpp - lib/dkim/message.cpp, what authguard-dkim reads
// of a message: the header block's fields and byte offsets for LF (qmail)
// and CRLF messages, the From: author, the Authentication-Results fields
// that claim our authserv-id, the CRLF feed to libopendkim across chunk
// boundaries, and the folding of the fields we add.
#include "authguard/dkim/message.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using namespace authguard::dkim;

namespace {

std::string joined_raw(const HeaderBlock& h) {
    std::string s;
    for (const auto& f : h.fields)
        s += f.raw;
    return s;
}

Author author(std::string_view message) {
    return author_of(parse_header(message, true));
}

HeaderField field(std::string raw) {
    auto h = parse_header(raw, true);
    REQUIRE(h.fields.size() == 1);
    return h.fields[0];
}

std::string crlf(std::string_view in, std::initializer_list<std::size_t> cuts) {
    CrlfFeed feed;
    std::string out;
    std::size_t at = 0;
    for (auto cut : cuts) {
        feed.convert(in.substr(at, cut - at), out);
        at = cut;
    }
    feed.convert(in.substr(at), out);
    feed.finish(out);
    return out;
}

// Every line of `s` (split at '\n') no longer than `width` columns.
std::size_t longest_line(std::string_view s) {
    std::size_t longest = 0, start = 0;
    while (start < s.size()) {
        auto end = s.find('\n', start);
        if (end == std::string_view::npos) end = s.size();
        std::size_t len = end - start;
        if (len > 0 && s[end - 1] == '\r') --len;
        longest = std::max(longest, len);
        start = end + 1;
    }
    return longest;
}

} // namespace

TEST_CASE("dkim message: an LF message (qmail's queue input) has exact fields and body offset") {
    std::string m = "Received: from a\n\tby b\nFrom: x@example.com\nSubject: hi\n\nbody\nline\n";
    auto h = parse_header(m, true);
    REQUIRE(h.fields.size() == 3);
    CHECK(h.complete);
    CHECK_FALSE(h.malformed);
    CHECK_FALSE(h.too_large);
    CHECK_FALSE(h.mixed_line_ends);
    CHECK(h.line_end == LineEnd::lf);
    CHECK(h.fields[0].name == "Received");
    CHECK(h.fields[0].offset == 0);
    CHECK(h.fields[0].raw == "Received: from a\n\tby b\n");
    CHECK(h.fields[0].value() == "from a\tby b");
    CHECK(h.fields[1].offset == 23);
    CHECK(h.fields[2].raw == "Subject: hi\n");
    CHECK(m.substr(h.body_offset) == "body\nline\n");
    CHECK(joined_raw(h) + "\n" == m.substr(0, h.body_offset));
}

TEST_CASE("dkim message: a CRLF message keeps its CRs in raw and drops them from value") {
    std::string m = "From: x@example.com\r\nSubject: a\r\n  b\r\n\r\nbody\r\n";
    auto h = parse_header(m, true);
    REQUIRE(h.fields.size() == 2);
    CHECK(h.line_end == LineEnd::crlf);
    CHECK_FALSE(h.mixed_line_ends);
    CHECK(h.fields[1].raw == "Subject: a\r\n  b\r\n");
    CHECK(h.fields[1].value() == "a  b");
    CHECK(h.fields[1].offset == 21);
    CHECK(m.substr(h.body_offset) == "body\r\n");
    CHECK(field_for_library(h.fields[1]) == "Subject: a\r\n  b");
}

TEST_CASE("dkim message: field_for_library gives LF fields CRLF line ends without the last") {
    auto f = field("DKIM-Signature: v=1;\n\tb=abc\n");
    CHECK(field_for_library(f) == "DKIM-Signature: v=1;\r\n\tb=abc");
    // A value ending in a lone CR keeps it: that CR is data, not a line end.
    auto g = field("X: a\r\r\n");
    CHECK(field_for_library(g) == "X: a\r");
}

TEST_CASE("dkim message: a header with no body, with and without the empty line") {
    auto h = parse_header("From: x@example.com\nSubject: s\n\n", true);
    CHECK(h.complete);
    CHECK(h.fields.size() == 2);
    CHECK(h.body_offset == 32);

    std::string no_empty = "From: x@example.com\nSubject: s\n";
    auto n = parse_header(no_empty, true);
    CHECK(n.complete);
    CHECK(n.fields.size() == 2);
    CHECK(n.body_offset == no_empty.size());

    // The last line without its line end is still the field's.
    std::string cut = "From: x@example.com\nSubject: s";
    auto c = parse_header(cut, true);
    CHECK(c.complete);
    REQUIRE(c.fields.size() == 2);
    CHECK(c.fields[1].raw == "Subject: s");
    CHECK(c.body_offset == cut.size());

    auto e = parse_header("", true);
    CHECK(e.complete);
    CHECK(e.fields.empty());
    CHECK(e.body_offset == 0);
}

TEST_CASE("dkim message: without at_end the last field waits for its next line") {
    std::string m = "From: x@example.com\nSubject: s\n";
    auto h = parse_header(m, false);
    CHECK_FALSE(h.complete);
    REQUIRE(h.fields.size() == 1); // Subject may still get a continuation line
    CHECK(h.body_offset == 20);
    auto more = parse_header(m + "\tmore\nTo: y@example.org\n\nbody", false);
    CHECK(more.complete);
    REQUIRE(more.fields.size() == 3);
    CHECK(more.fields[1].raw == "Subject: s\n\tmore\n");
    // A line whose end has not arrived.
    auto part = parse_header("From: x@example.com\nSubj", false);
    CHECK_FALSE(part.complete);
    CHECK(part.fields.size() == 1);
}

TEST_CASE("dkim message: a malformed line ends the header there, as a verifier would") {
    std::string m = "From: x@example.com\nthis is not a field\nSubject: s\n\nbody\n";
    auto h = parse_header(m, true);
    CHECK(h.malformed);
    CHECK_FALSE(h.complete);
    REQUIRE(h.fields.size() == 1);
    CHECK(h.body_offset == 20);
    CHECK(joined_raw(h) == m.substr(0, h.body_offset));

    // A first line that is a continuation.
    auto c = parse_header(" From: x@example.com\n\n", true);
    CHECK(c.malformed);
    CHECK(c.fields.empty());
    CHECK(c.body_offset == 0);

    // An empty name, and a blank inside the name.
    CHECK(parse_header(": value\n\n", true).malformed);
    CHECK(parse_header("Sub ject: value\n\n", true).malformed);
    // A CR alone before the line end is not the empty line.
    auto cr = parse_header("From: x@example.com\n\r\r\nbody\n", true);
    CHECK(cr.malformed);
    CHECK(cr.body_offset == 20);
}

TEST_CASE("dkim message: the obsolete blank before the colon is accepted") {
    auto h = parse_header("Subject : hello\nFrom:x@example.com\n\n", true);
    CHECK_FALSE(h.malformed);
    REQUIRE(h.fields.size() == 2);
    CHECK(h.fields[0].name == "Subject");
    CHECK(h.fields[0].value() == "hello");
    CHECK(h.fields[1].value() == "x@example.com");
}

TEST_CASE("dkim message: LF and CRLF lines in one header are flagged mixed") {
    std::string m = "From: x@example.com\r\nSubject: s\n\r\nbody\n";
    auto h = parse_header(m, true);
    CHECK(h.mixed_line_ends);
    CHECK(h.line_end == LineEnd::crlf);
    CHECK(h.complete);
    CHECK(h.fields.size() == 2);
    CHECK(m.substr(h.body_offset) == "body\n");
    // Mixed line ends in the body are the body's business.
    CHECK_FALSE(parse_header("From: x@example.com\n\nbody\r\nmore\n", true).mixed_line_ends);
}

TEST_CASE("dkim message: a header past the bound is too_large with the whole fields so far") {
    std::string m = "From: x@example.com\nSubject: " + std::string(200, 'a') + "\n\nbody\n";
    auto h = parse_header(m, true, 100);
    CHECK(h.too_large);
    CHECK_FALSE(h.complete);
    REQUIRE(h.fields.size() == 1);
    CHECK(h.body_offset == 20);
    // A header ending exactly at the bound fits.
    std::string fits = "From: x@example.com\n\nbody";
    auto f = parse_header(fits, true, 21);
    CHECK(f.complete);
    CHECK_FALSE(f.too_large);
    auto over = parse_header(fits, true, 20);
    CHECK(over.too_large);
    CHECK(over.fields.size() == 1); // the next byte shows From has no continuation
    // A continuation crossing the bound drops its field.
    auto cont = parse_header("A: 1\nB: 2\n  3\n\n", true, 12);
    CHECK(cont.too_large);
    CHECK(cont.fields.size() == 1);
    // A message with no line end at all.
    auto none = parse_header(std::string(5000, 'x'), true, 1000);
    CHECK(none.too_large);
    CHECK(none.fields.empty());
    CHECK(none.body_offset == 0);
}

TEST_CASE("dkim message: From with a display name, quotes, comments, angle address") {
    auto a = author("From: \"Doe, John\" <John.Doe@Example.COM.>\n\n");
    CHECK(a.status == Author::Status::one);
    CHECK(a.address == "John.Doe@Example.COM.");
    CHECK(a.domain == "example.com");

    auto b = author("from: (comment (nested)) john (c) @ (c) example.org (trailing)\n\n");
    CHECK(b.status == Author::Status::one);
    CHECK(b.address == "john@example.org");
    CHECK(b.domain == "example.org");

    auto c = author("From: Mary Smith\n <mary@x.test>\n\n");
    CHECK(c.status == Author::Status::one);
    CHECK(c.domain == "x.test");

    auto d = author("From: John Q. Public <@route.example,@other.example:jqp@Example.NET>\n\n");
    CHECK(d.status == Author::Status::one);
    CHECK(d.address == "jqp@Example.NET");
    CHECK(d.domain == "example.net");

    auto q = author("From: \"john doe\"@example.com\n\n");
    CHECK(q.status == Author::Status::one);
    CHECK(q.address == "\"john doe\"@example.com");

    auto lit = author("From: a@[192.0.2.1]\n\n");
    CHECK(lit.status == Author::Status::one);
    CHECK(lit.domain == "[192.0.2.1]");
}

TEST_CASE("dkim message: From as a group, with several mailboxes, none, or garbage") {
    auto g = author("From: Team: alice@example.com;\n\n");
    CHECK(g.status == Author::Status::one);
    CHECK(g.domain == "example.com");

    CHECK(author("From: Team: a@example.com, b@example.com;\n\n").status ==
          Author::Status::several_mailboxes);
    CHECK(author("From: a@example.com, B <b@example.org>\n\n").status ==
          Author::Status::several_mailboxes);
    CHECK(author("From: a@example.com\nFROM: b@example.com\n\n").status ==
          Author::Status::several_fields);
    CHECK(author("Subject: no author\n\n").status == Author::Status::none);
    // A From: with no mailbox is not "no From:".
    CHECK(author("From: undisclosed-recipients:;\n\n").status == Author::Status::unparsable);
    CHECK(author("From: \n\n").status == Author::Status::unparsable);
    // Garbage.
    CHECK(author("From: root\n\n").status == Author::Status::unparsable);
    CHECK(author("From: \"open quote <a@example.com>\n\n").status == Author::Status::unparsable);
    CHECK(author("From: a@example.com (open comment\n\n").status == Author::Status::unparsable);
    CHECK(author("From: <a@example.com\n\n").status == Author::Status::unparsable);
    CHECK(author("From: John Doe@example.com\n\n").status == Author::Status::unparsable);
    CHECK(author("From: a@example..com\n\n").status == Author::Status::unparsable);
    CHECK(author("From: a@@example.com\n\n").status == Author::Status::unparsable);
    CHECK(author("From: <>\n\n").status == Author::Status::unparsable);
    CHECK(author("From: Team: a@example.com\n\n").status == Author::Status::unparsable);
    CHECK(author("From: A: B: a@example.com;;\n\n").status == Author::Status::unparsable);
    // Empty list elements (RFC 5322 §4.4) are no mailboxes.
    CHECK(author("From: , a@example.com ,\n\n").status == Author::Status::one);
}

TEST_CASE("dkim message: UTF-8 in From (RFC 6532) passes through, domain case folded in ASCII") {
    auto a = author("From: Jörg <jörg.müller@Bücher.Example>\n\n");
    CHECK(a.status == Author::Status::one);
    CHECK(a.address == "jörg.müller@Bücher.Example");
    CHECK(a.domain == "bücher.example");
    auto e = author("From: =?utf-8?q?J=C3=B6rg?= <j@example.de>\n\n");
    CHECK(e.status == Author::Status::one);
    CHECK(e.domain == "example.de");
}

TEST_CASE("dkim message: claims_authserv_id reads RFC 8601's authserv-id") {
    auto ar = [](std::string value) { return field("Authentication-Results: " + value + "\n"); };
    CHECK(
        claims_authserv_id(ar("mx.example.org; dkim=pass header.d=example.com"), "mx.example.org"));
    CHECK(claims_authserv_id(ar("MX.Example.ORG; none"), "mx.example.org"));
    CHECK(claims_authserv_id(ar("mx.example.org 1; spf=pass"), "mx.example.org"));
    CHECK(claims_authserv_id(ar("(ours, forged) mx.example.org (c) 1 (d) ; dkim=pass"),
                             "mx.example.org"));
    CHECK(claims_authserv_id(ar("\"mx.example.org\"; dkim=pass"), "mx.example.org"));
    CHECK(claims_authserv_id(field("Authentication-Results:\n mx.example.org;\n dkim=pass\n"),
                             "mx.example.org"));
    // Another receiver's results stay.
    CHECK_FALSE(claims_authserv_id(ar("mx.other.example; dkim=pass"), "mx.example.org"));
    CHECK_FALSE(claims_authserv_id(ar("mx.example.org.evil; dkim=pass"), "mx.example.org"));
    CHECK_FALSE(claims_authserv_id(ar("mx.other.example 1; none"), "mx.example.org"));
    // Unparsable ones are removed: they can only mislead.
    CHECK(claims_authserv_id(ar(""), "mx.example.org"));
    CHECK(claims_authserv_id(ar("mx.other.example"), "mx.example.org"));
    CHECK(claims_authserv_id(ar("mx.other.example dkim=pass"), "mx.example.org"));
    CHECK(claims_authserv_id(ar("dkim=pass"), "mx.example.org"));
    CHECK(claims_authserv_id(ar("(open comment; dkim=pass"), "mx.example.org"));
    CHECK(claims_authserv_id(ar("mx.other.example 1 2; none"), "mx.example.org"));
}

TEST_CASE("dkim message: CrlfFeed turns LF into CRLF across any chunk boundary") {
    std::string in = "a\nb\r\nc\rd\n\n";
    std::string want = "a\r\nb\r\nc\rd\r\n\r\n";
    CHECK(crlf(in, {}) == want);
    // The CR of a CRLF at the end of one chunk, its LF at the start of the next.
    CHECK(crlf(in, {4}) == want);
    for (std::size_t cut = 0; cut <= in.size(); ++cut)
        CHECK(crlf(in, {cut}) == want);
    for (std::size_t c1 = 0; c1 <= in.size(); ++c1)
        for (std::size_t c2 = c1; c2 <= in.size(); ++c2)
            CHECK(crlf(in, {c1, c2}) == want);
    // Empty chunks between a CR and its LF keep the CR held.
    CHECK(crlf("x\r\ny", {2, 2, 2}) == "x\r\ny");
    // A lone CR stays, also at the very end (written by finish).
    CHECK(crlf("x\r", {}) == "x\r");
    CHECK(crlf("\r\r\n", {1}) == "\r\r\n");
    CHECK(crlf("\n", {}) == "\r\n");
    CHECK(crlf("", {}).empty());
    CrlfFeed held;
    std::string out;
    held.convert("a\r", out);
    CHECK(out == "a"); // held back until the next byte is known
    held.finish(out);
    CHECK(out == "a\r");
}

TEST_CASE("dkim message: fold_field keeps lines within 78 columns where blanks allow") {
    std::string value;
    for (int i = 0; i < 40; ++i)
        value += "word" + std::to_string(i) + " ";
    value.pop_back();
    auto f = fold_field("X-Long", value, LineEnd::lf);
    CHECK(longest_line(f) <= 78);
    CHECK(f.back() == '\n');
    auto h = parse_header(f, true);
    REQUIRE(h.fields.size() == 1);
    CHECK(h.complete);
    CHECK_FALSE(h.malformed);
    CHECK(h.body_offset == f.size());
    CHECK(h.fields[0].name == "X-Long");
    // The new folds are TABs in place of one space each.
    std::string unfolded = h.fields[0].value();
    for (auto& c : unfolded)
        if (c == '\t') c = ' ';
    CHECK(unfolded == value);
    CHECK(fold_field("Subject", "short", LineEnd::lf) == "Subject: short\n");
    CHECK(fold_field("Subject", "short", LineEnd::crlf) == "Subject: short\r\n");
}

TEST_CASE("dkim message: fold_field leaves an over-long token whole") {
    std::string b(200, 'B');
    auto f = fold_field("DKIM-Signature", "v=1; b=" + b + " x=1", LineEnd::lf);
    CHECK(f == "DKIM-Signature: v=1;\n\tb=" + b + "\n\tx=1\n");
    auto g = fold_field("X", b, LineEnd::crlf);
    CHECK(g == "X: " + b + "\r\n");
}

TEST_CASE("dkim message: fold_field rewrites libopendkim's CRLF TAB folds for LF") {
    std::string sig = "v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel;\r\n"
                      "\th=from:to:subject; bh=abc=;\r\n\tb=def";
    auto f = fold_field("DKIM-Signature", sig, LineEnd::lf);
    CHECK(f == "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel;\n"
               "\th=from:to:subject; bh=abc=;\n\tb=def\n");
    CHECK(f.find('\r') == std::string::npos);
    auto c = fold_field("DKIM-Signature", sig, LineEnd::crlf);
    CHECK(c == "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel;\r\n"
               "\th=from:to:subject; bh=abc=;\r\n\tb=def\r\n");
    // A line end with no blank after it still gives a continuation line;
    // line ends in a row, blank lines and a final line end collapse.
    CHECK(fold_field("X", "a\nb", LineEnd::lf) == "X: a\n\tb\n");
    CHECK(fold_field("X", "a\r\n\r\n \r\n b\r\n", LineEnd::lf) == "X: a\n b\n");
    CHECK(fold_field("X", "\r\n\ta", LineEnd::lf) == "X: a\n");
    CHECK(fold_field("X", "a\rb", LineEnd::crlf) == "X: a\r\n\tb\r\n");
    CHECK(fold_field("X", "", LineEnd::lf) == "X:\n");
}
