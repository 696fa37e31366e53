// spf/syntax.hpp - RFC 7208 §12's grammar of an SPF record, checked before
// libspf2 evaluates it. libspf2 1.2.10 accepts records RFC 7208 calls
// malformed (and evaluates terms before a later error); §4.6 wants the
// whole record refused with "permerror" first.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace authguard::spf {

// True for a TXT string that is an SPF record: "v=spf1" (any case) alone
// or followed by a space (RFC 7208 §4.5).
bool is_spf_record(std::string_view text);

// nullopt when `record` ("v=spf1 ...") follows the grammar, else what is
// wrong with it ("unknown mechanism 'foo'").
std::optional<std::string> record_error(std::string_view record);

// The same for local terms without "v=spf1" (spfrules, spfguess).
std::optional<std::string> terms_error(std::string_view terms);

// RFC 7208 §6.2: explanation text (macro-strings and spaces; the c, r and
// t macros allowed). nullopt when valid.
std::optional<std::string> explanation_error(std::string_view text);

// The record rewritten into terms libspf2 1.2.10 evaluates as RFC 7208
// means them: unknown modifiers dropped (§6: ignored), redirect= dropped
// when an "all" is present (§6.1), redirect= and exp= moved after the
// mechanisms (§6.1: evaluated after them), /0 prefix lengths (which libspf2 refuses
// to compile) turned into equivalents: ip4 and ip6 into two /1 halves, an
// a or mx term whose length for the client's family is 0 into the same
// term on `any_marker` appended to its domain (the DNS layer then answers
// the client's own address for every address that name has). `record`
// must have passed record_error().
std::string libspf2_form(std::string_view record, bool client_v6, std::string_view any_marker);

// RFC 7208 §4.3: a domain check_host() can start from: labels of 1 to 63
// characters, at least two of them, no address literal.
bool valid_domain(std::string_view domain);

} // namespace authguard::spf
