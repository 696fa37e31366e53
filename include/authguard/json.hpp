// json.hpp - the JSON authguard writes (authguardctl --json, export) and the
// small reader for what it reads back (authguardctl import). Strings are
// bytes: json_string writes valid UTF-8 as is and any other byte as \u00XX,
// and the reader reads \u0000-\u00ff back as that byte, so that any bytes
// survive a round trip. Numbers are whole (int64); no floats are written.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace authguard::json {

// A JSON string literal for arbitrary bytes: valid UTF-8 is kept, quote,
// backslash and control bytes become escapes (\uXXXX for control bytes),
// and a byte that is not part of valid UTF-8 becomes \u00XX (its Latin-1
// reading) so the document always parses.
std::string quote(std::string_view bytes);

struct Value;
struct Member;                      // of an object: key and value
using Object = std::vector<Member>; // in document order
using Array = std::vector<Value>;

struct Value {
    std::variant<std::nullptr_t, bool, std::int64_t, std::string, Array, Object> v;

    bool is_null() const { return std::holds_alternative<std::nullptr_t>(v); }
    // The first member named `key` of an object; nullptr when absent or
    // when this is not an object.
    const Value* find(std::string_view key) const;
};

// Not a std::pair: a pair of an incomplete Value inside Value's own variant
// does not compile with clang and libstdc++.
struct Member {
    std::string key;
    Value value;
};

// Thrown by parse() with the reason and the column.
class ParseError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// One document, nested at most 16 deep, with nothing but white space after
// it. Throws ParseError.
Value parse(std::string_view text);

} // namespace authguard::json
