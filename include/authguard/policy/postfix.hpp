// policy/postfix.hpp - Postfix's policy delegation protocol (SMTPD_POLICY_README)
// as bytes in and bytes out: an incremental reader of `name=value` requests
// ended by an empty line, and the `action=...` reply. No sockets here, so
// that the daemon, the unit tests and the fuzzer all drive the same code.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authguard::policy {

// A request the peer should not have sent (too large, not name=value, a NUL
// byte, ...). The daemon logs it, answers if it can, and closes.
struct ProtocolError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct PostfixRequest {
    std::vector<std::pair<std::string, std::string>> attributes; // in the order sent
    // The value of the first attribute called `name`; "" when absent (Postfix
    // sends many attributes empty, so absent and empty mean the same).
    std::string_view get(std::string_view name) const;
};

struct PostfixLimits {
    std::size_t max_request_bytes = 16384; // all lines of one request, line ends included
    std::size_t max_attributes = 128;      // Postfix 3.7 sends about 30
};

// Feed bytes as they arrive; next() yields the complete requests one by one.
// Memory stays bounded by the limits plus the bytes of one feed() call.
class PostfixReader {
  public:
    explicit PostfixReader(PostfixLimits limits = {});
    void feed(std::string_view bytes);
    // A complete request, nullopt when more bytes are needed. Throws
    // ProtocolError on a request over the limits, a line without '=', an
    // empty name or a NUL byte; after a throw the reader stays failed
    // (every later next() throws), since the stream cannot be resynchronised.
    std::optional<PostfixRequest> next();
    // Bytes of a request begun but not complete: nonzero at end of input
    // means the peer closed in the middle of a request.
    std::size_t buffered() const;

  private:
    std::optional<PostfixRequest> next_request();
    [[noreturn]] void fail(const std::string& reason);

    PostfixLimits limits_;
    std::string buffer_;
    std::size_t pos_ = 0;           // first byte of buffer_ not yet read as a line
    std::size_t request_bytes_ = 0; // bytes of the lines of `current_` read so far
    PostfixRequest current_;
    bool failed_ = false;
};

// "action=TEXT\n\n": CR, LF and NUL in TEXT become spaces (a line end would
// end the reply early and let the rest be read as the next answer), and TEXT
// is cut at 512 bytes.
std::string postfix_reply(std::string_view action);

// `text` cut at `limit` bytes, every byte outside printable ASCII as \xNN:
// for error messages that quote what a peer sent into a log line.
std::string printable_excerpt(std::string_view text, std::size_t limit = 40);

} // namespace authguard::policy
