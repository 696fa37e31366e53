// policy/http.hpp - the smallest server side of HTTP/1.1 that Dovecot's auth
// policy client needs: requests with a Content-Length body (POST with JSON),
// kept-alive and possibly pipelined, read incrementally; and the response.
// No chunked encoding and no folded header lines: a request that uses them
// gets an HttpError with the status to send. "Expect: 100-continue" is not
// answered (Dovecot does not send it; curl sends the body after a second).
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authguard::policy {

struct HttpRequest {
    std::string method, target, version; // "POST", "/?command=allow", "HTTP/1.1"
    std::vector<std::pair<std::string, std::string>> headers; // names lower-cased, values trimmed
    std::string body;
    // HTTP/1.1 keeps the connection unless "Connection: close"; HTTP/1.0
    // keeps it only with "Connection: keep-alive".
    bool keep_alive = true;
    // The query of `target` (after '?'), '&'-separated, names and values
    // %XX- and '+'-decoded, in order. HttpReader fills it; set_target() fills
    // it for a request built by hand.
    std::vector<std::pair<std::string, std::string>> query;

    // The first header of that (lower-case) name; "" when absent.
    std::string_view header(std::string_view lower_name) const;
    // The decoded value of the first query parameter called `name`; "" when absent.
    std::string_view query_parameter(std::string_view name) const;
    void set_target(std::string new_target);
};

// The query part of a request target, decoded: "/?a=1&b=x%20y" -> {a,1},{b,x y}.
// A parameter without '=' has an empty value; empty parameters ("&&") are
// skipped; a '%' not followed by two hex digits stays as it is.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view target);

struct HttpLimits {
    std::size_t max_header_bytes = 16384; // request line, headers and the empty line
    std::size_t max_body_bytes = 65536;
};

// The status the daemon must answer before it closes: 400 malformed, 411
// POST without Content-Length, 413 body too large, 431 header too large,
// 501 Transfer-Encoding (chunked is not supported), 505 version not HTTP/1.x.
struct HttpError : std::runtime_error {
    int status;
    HttpError(int status, const std::string& what);
};

// Feed bytes as they arrive; next() yields the complete requests one by one
// (pipelined ones too). Line ends may be CRLF or a bare LF.
class HttpReader {
  public:
    explicit HttpReader(HttpLimits limits = {});
    void feed(std::string_view bytes);
    // A complete request, nullopt when more bytes are needed. Throws
    // HttpError; after a throw the reader stays failed (every later next()
    // throws 400), since the stream cannot be resynchronised.
    std::optional<HttpRequest> next();
    // Bytes of a request begun but not complete (header or body): nonzero at
    // end of input means the peer closed in the middle of a request.
    std::size_t buffered() const;

  private:
    std::optional<HttpRequest> next_request();
    bool read_header(); // true when a header was read into pending_
    [[noreturn]] void fail(int status, const std::string& reason);

    HttpLimits limits_;
    std::string buffer_;
    std::size_t pos_ = 0;                // first byte of the request being read
    std::size_t scan_ = 0;               // first byte of the header line not yet looked at
    std::optional<HttpRequest> pending_; // header read, body awaited
    std::size_t body_length_ = 0;
    std::size_t pending_header_bytes_ = 0;
    bool failed_ = false;
};

// "HTTP/1.1 STATUS REASON" with Content-Type (left out when empty),
// Content-Length and Connection (keep-alive or close), then `body`.
std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool keep_alive);
// `text` without the spaces and tabs around it (header values, credentials).
std::string_view trim_blanks(std::string_view text);

// The reason phrase of a status ("Not Found"), "Unknown" for one not used here.
std::string_view http_reason(int status);

} // namespace authguard::policy
