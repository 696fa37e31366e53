// http.cpp - the HTTP/1.x request reader and the response (see
// policy/http.hpp). It reads strangers' bytes: whatever it cannot frame
// with certainty (chunked bodies, conflicting lengths, folded headers) is
// refused with a status rather than guessed at, so that two requests can
// never be read as one or one as two (request smuggling).
#include "authguard/policy/http.hpp"

#include "authguard/encoding.hpp"

#include "authguard/policy/postfix.hpp" // printable_excerpt

#include <algorithm>

namespace authguard::policy {

namespace {

bool is_token_char(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), is_token_char);
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowered(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        c = lower(c);
    return out;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

std::string url_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 &&
                   hex_digit(text[i + 2]) >= 0) {
            out += static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2]));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

// Whether the comma-separated list of a Connection header holds `option`.
bool has_connection_option(std::string_view list, std::string_view option) {
    while (!list.empty()) {
        auto comma = list.find(',');
        if (equal_ignoring_case(trim_blanks(list.substr(0, comma)), option)) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

} // namespace

std::string_view trim_blanks(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
        text.remove_suffix(1);
    return text;
}

std::string_view HttpRequest::header(std::string_view lower_name) const {
    for (const auto& [name, value] : headers)
        if (name == lower_name) return value;
    return {};
}

std::string_view HttpRequest::query_parameter(std::string_view name) const {
    for (const auto& [key, value] : query)
        if (key == name) return value;
    return {};
}

void HttpRequest::set_target(std::string new_target) {
    target = std::move(new_target);
    query = parse_query(target);
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view target) {
    std::vector<std::pair<std::string, std::string>> parameters;
    auto question = target.find('?');
    if (question == std::string_view::npos) return parameters;
    std::string_view rest = target.substr(question + 1);
    rest = rest.substr(0, rest.find('#'));
    while (!rest.empty()) {
        auto amp = rest.find('&');
        std::string_view item = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
        if (item.empty()) continue;
        auto equals = item.find('=');
        std::string_view name = item.substr(0, equals);
        std::string_view value =
            equals == std::string_view::npos ? std::string_view() : item.substr(equals + 1);
        parameters.emplace_back(url_decode(name), url_decode(value));
    }
    return parameters;
}

HttpError::HttpError(int status_code, const std::string& what)
    : std::runtime_error(what), status(status_code) {}

HttpReader::HttpReader(HttpLimits limits) : limits_(limits) {}

void HttpReader::feed(std::string_view bytes) {
    if (failed_) return; // the daemon is closing this connection anyway
    buffer_.append(bytes);
}

std::size_t HttpReader::buffered() const {
    return (pending_ ? pending_header_bytes_ : 0) + (buffer_.size() - pos_);
}

void HttpReader::fail(int status, const std::string& reason) {
    failed_ = true;
    buffer_.clear();
    pos_ = scan_ = 0;
    pending_.reset();
    throw HttpError(status, "HTTP request: " + reason);
}

std::optional<HttpRequest> HttpReader::next() {
    if (failed_) throw HttpError(400, "HTTP request: the connection failed earlier");
    auto request = next_request();
    if (!request) {
        // Drop the requests already read, so that a long-lived connection
        // does not keep every byte it ever sent.
        buffer_.erase(0, pos_);
        scan_ -= pos_;
        pos_ = 0;
    }
    return request;
}

std::optional<HttpRequest> HttpReader::next_request() {
    if (!pending_ && !read_header()) return std::nullopt;
    if (buffer_.size() - pos_ < body_length_) return std::nullopt;
    HttpRequest request = std::move(*pending_);
    pending_.reset();
    request.body.assign(buffer_, pos_, body_length_);
    pos_ += body_length_;
    scan_ = pos_;
    body_length_ = 0;
    return request;
}

bool HttpReader::read_header() {
    // Find the empty line that ends the header, looking at each line once.
    std::size_t header_end = 0; // just past the empty line
    for (;;) {
        auto newline = buffer_.find('\n', scan_);
        if (newline == std::string::npos) {
            if (buffer_.size() - pos_ > limits_.max_header_bytes)
                fail(431,
                     "header longer than " + std::to_string(limits_.max_header_bytes) + " bytes");
            return false;
        }
        std::size_t line_start = scan_;
        scan_ = newline + 1;
        if (scan_ - pos_ > limits_.max_header_bytes)
            fail(431, "header longer than " + std::to_string(limits_.max_header_bytes) + " bytes");
        std::size_t line_length = newline - line_start;
        if (line_length > 0 && buffer_[newline - 1] == '\r') --line_length;
        if (line_length > 0) continue;
        if (line_start == pos_) {
            // An empty line before the request line (a client's stray CRLF
            // after a body) is skipped, as RFC 9112 section 2.2 advises.
            pos_ = scan_;
            continue;
        }
        header_end = scan_;
        break;
    }

    std::string_view head(buffer_.data() + pos_, header_end - pos_);
    pending_header_bytes_ = head.size();
    pos_ = header_end;
    auto next_line = [&head]() {
        auto newline = head.find('\n');
        std::string_view line = head.substr(0, newline);
        head.remove_prefix(newline + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        return line;
    };

    HttpRequest request;
    std::string_view request_line = next_line();
    auto first_space = request_line.find(' ');
    auto second_space = first_space == std::string_view::npos
                            ? std::string_view::npos
                            : request_line.find(' ', first_space + 1);
    if (second_space == std::string_view::npos ||
        request_line.find(' ', second_space + 1) != std::string_view::npos)
        fail(400,
             "request line not METHOD TARGET VERSION: \"" + printable_excerpt(request_line) + "\"");
    std::string_view method = request_line.substr(0, first_space);
    std::string_view target = request_line.substr(first_space + 1, second_space - first_space - 1);
    std::string_view version = request_line.substr(second_space + 1);
    if (!is_token(method)) fail(400, "bad method \"" + printable_excerpt(method) + "\"");
    if (target.empty() || std::any_of(target.begin(), target.end(), [](char c) {
            auto byte = static_cast<unsigned char>(c);
            return byte <= 0x20 || byte == 0x7f;
        }))
        fail(400, "bad request target \"" + printable_excerpt(target) + "\"");
    auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) ||
        version[6] != '.' || !is_digit(version[7]))
        fail(400, "bad HTTP version \"" + printable_excerpt(version) + "\"");
    if (version[5] != '1') fail(505, "HTTP version " + std::string(version) + " is not supported");
    request.method = method;
    request.set_target(std::string(target));
    request.version = version;

    for (std::string_view line = next_line(); !line.empty(); line = next_line()) {
        if (line.front() == ' ' || line.front() == '\t')
            fail(400, "folded header line (obsolete, RFC 9112 section 5.2)");
        auto colon = line.find(':');
        if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
            fail(400, "bad header line \"" + printable_excerpt(line) + "\"");
        std::string_view value = trim_blanks(line.substr(colon + 1));
        if (std::any_of(value.begin(), value.end(), [](char c) {
                auto byte = static_cast<unsigned char>(c);
                return (byte < 0x20 && c != '\t') || byte == 0x7f;
            }))
            fail(400,
                 "control byte in header \"" + printable_excerpt(line.substr(0, colon)) + "\"");
        request.headers.emplace_back(lowered(line.substr(0, colon)), std::string(value));
    }

    // The body's length: only Content-Length frames it here.
    std::optional<std::size_t> content_length;
    bool close = false, keep_alive = false;
    for (const auto& [name, value] : request.headers) {
        if (name == "transfer-encoding")
            fail(501, "Transfer-Encoding \"" + printable_excerpt(value) + "\" is not supported");
        if (name == "connection") {
            close = close || has_connection_option(value, "close");
            keep_alive = keep_alive || has_connection_option(value, "keep-alive");
        }
        if (name != "content-length") continue;
        if (value.empty() || !std::all_of(value.begin(), value.end(), is_digit))
            fail(400, "bad Content-Length \"" + printable_excerpt(value) + "\"");
        std::size_t length = 0;
        for (char c : value) {
            length = length * 10 + static_cast<std::size_t>(c - '0');
            if (length > limits_.max_body_bytes)
                fail(413, "body longer than " + std::to_string(limits_.max_body_bytes) + " bytes");
        }
        if (content_length && *content_length != length)
            fail(400, "two different Content-Length headers");
        content_length = length;
    }
    if (!content_length && request.method == "POST") fail(411, "POST without Content-Length");
    request.keep_alive = request.version == "HTTP/1.0" ? keep_alive && !close : !close;

    body_length_ = content_length.value_or(0);
    scan_ = pos_;
    pending_ = std::move(request);
    return true;
}

std::string_view http_reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool keep_alive) {
    std::string response = "HTTP/1.1 " + std::to_string(status) + " ";
    response += http_reason(status);
    response += "\r\n";
    if (!content_type.empty()) {
        response += "Content-Type: ";
        response += content_type;
        response += "\r\n";
    }
    response += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    response += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    response += body;
    return response;
}

} // namespace authguard::policy
