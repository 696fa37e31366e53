// dkim/message.hpp - what authguard-dkim reads of a message before signing
// or verifying it: the header block (fields, where the body starts, the
// line-end convention), the author's domain from From: (RFC 5322 §3.6.2),
// the Authentication-Results fields that claim to be ours (RFC 8601 §5:
// removed before ours is added), and the bytes libopendkim must be fed
// (CRLF line ends, RFC 6376 §2.8 and §5.3). Pure functions on bytes: no
// I/O, no library state, so that each is unit-tested and fuzzed
// (tests/fuzz/dkim_header.cpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace authguard::dkim {

// One header field exactly as it arrived: `raw` holds every byte of it,
// continuation lines and line ends included, so that the message can be
// handed on byte-exact without the fields we remove.
struct HeaderField {
    std::string name;       // as written (case kept), without the colon
    std::size_t offset = 0; // of its first byte in the message
    std::string raw;        // "Name: value\n\tmore\n" (or with CRLF)
    // The value unfolded (line ends inside removed), leading blanks dropped.
    std::string value() const;
};

enum class LineEnd { lf, crlf };

struct HeaderBlock {
    std::vector<HeaderField> fields;
    // Offset of the body's first byte: just after the empty line that ends
    // the header, or the message's size when it has no body. When parsing
    // stopped short (malformed, too_large, or the data ran out before
    // at_end), where it stopped: the end of the last whole field. Always
    // fields[k].offset == the end of fields[k-1] (0 for the first), the
    // last one ends at or before body_offset.
    std::size_t body_offset = 0;
    // The convention of the first line: qmail hands queue programs LF
    // (qmail-smtpd strips the CR); other injectors may give CRLF.
    LineEnd line_end = LineEnd::lf;
    // Defects, each with a defined outcome in authguard-dkim(8):
    // An empty line ended the header (or, at_end, the message ended in it).
    bool complete = false;
    // A line before the empty line that is neither a field nor a continuation.
    bool malformed = false;
    // The header went past the bound given to parse_header.
    bool too_large = false;
    // Header lines ending in LF and header lines ending in CRLF.
    bool mixed_line_ends = false;
};

// Parses the header block at the start of `message` (as much of the
// message as the caller has; `at_end` when that is all of it). Reads at
// most `largest` bytes of header: past that, too_large and the fields so
// far. A line that is not "name:" (RFC 5322 §3.6.8 ftext) and not a
// continuation sets malformed; parsing stops there, and body_offset is
// that line's offset (the rest is treated as body, as a verifier would).
// A line is ended by LF (CRLF when a CR precedes it); a lone CR is part of
// the line. A message that ends in its header (`at_end`, no empty line) is
// complete with no body; its last line may lack a line end. Without
// `at_end`, a field is only taken once the next line shows it has no more
// continuation lines. Linear time; reads at most `largest` + 1 bytes.
HeaderBlock parse_header(std::string_view message, bool at_end, std::size_t largest = 1 << 20);

// The From: field's author. Exactly one From: field with exactly one
// mailbox gives its address and domain (lower-cased); RFC 6376 §5.4 makes
// From: mandatory in every signature, RFC 7489 §6.6.1 rejects zero or
// several authors for alignment. The value is read as an RFC 5322 address
// list with the obsolete forms (comments anywhere, routes, empty list
// elements) and groups, whose mailboxes count like any other; the local
// part and 8-bit (RFC 6532) text pass through as written. `none` is for no
// From: field only: a From: with no mailbox ("undisclosed:;", empty) or
// one that is not an address list (no "@", an open quote) is unparsable.
struct Author {
    enum class Status {
        one,
        none,
        several_fields,
        several_mailboxes,
        unparsable
    } status = Status::none;
    std::string address; // local@domain as written
    std::string domain;  // lower-cased, no trailing dot
};
Author author_of(const HeaderBlock& header);

// True for an Authentication-Results field whose authserv-id (RFC 8601
// §2.2: the first token of the value, before ";" or a version number) is
// `authserv_id`, compared without case. Also true for one that cannot be
// parsed: it would only mislead a reader, and none of ours is malformed.
bool claims_authserv_id(const HeaderField& field, std::string_view authserv_id);

// Turns a message's line ends into CRLF for libopendkim, a chunk at a
// time: a lone LF becomes CRLF, a CRLF stays, a lone CR stays (RFC 6376
// leaves it alone). Keeps the one byte of state a chunk boundary needs.
class CrlfFeed {
  public:
    // Appends the converted chunk to `out`.
    void convert(std::string_view chunk, std::string& out);
    // After the last chunk: a CR held back at the end is written.
    void finish(std::string& out);

  private:
    bool held_cr_ = false;
};

// A header field as libopendkim wants it: the raw field with CRLF line
// ends and without its final line end.
std::string field_for_library(const HeaderField& field);

// Folds `name: value` for a message with `line_end` line ends: lines
// broken at blanks before 78 columns where possible (RFC 5322 §2.2.3),
// continuation lines start with a tab, the field ends with a line end.
// Input line ends inside `value` (libopendkim's CRLF-TAB folding) are
// taken as fold points and rewritten to `line_end`, with the blanks after
// them: a value whose own lines already fit (libopendkim's signature with
// its margin) only has its line ends changed, as c=simple needs. A new
// fold replaces the blanks it is put at by line_end + TAB; a word longer
// than a line stays whole. Line ends in a row, blank-only lines and line
// ends at the value's end collapse (none may end the header early); a
// lone CR counts as a line end, so the output has only `line_end`s.
std::string fold_field(std::string_view name, std::string_view value, LineEnd line_end);

} // namespace authguard::dkim
