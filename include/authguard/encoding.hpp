// encoding.hpp - base64 (RFC 4648) and hex digits, shared by the DKIM keys
// (p= of a key record) and the policy daemon (HTTP Basic credentials,
// %XX in a query, Dovecot's pwhash).
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace authguard {

std::string base64_encode(std::string_view bytes);

// Whether blanks (space, tab, CR, LF) may stand anywhere in the text, as
// RFC 6376's folding whitespace does inside a key record's p=.
enum class Base64Blanks { refused, skipped };

// Base64 with the padding optional; nullopt for any byte outside the
// alphabet (and the blanks, when skipped), a misplaced '=' or a cut-off group.
std::optional<std::string> base64_decode(std::string_view text,
                                         Base64Blanks blanks = Base64Blanks::refused);

// 0-15 for a hex digit of either case, -1 for anything else.
int hex_digit(char c);

} // namespace authguard
