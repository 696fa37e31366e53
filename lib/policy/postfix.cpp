// postfix.cpp - the reader of Postfix policy requests and the reply (see
// policy/postfix.hpp). Lines are read as they complete, so feeding a byte at
// a time costs no more than one feed of the whole request, and a request is
// refused as soon as it passes a limit rather than after it is all buffered.
#include "authguard/policy/postfix.hpp"

#include <algorithm>

namespace authguard::policy {

namespace {
constexpr std::size_t max_action_bytes = 512;
} // namespace

std::string_view PostfixRequest::get(std::string_view name) const {
    for (const auto& [key, value] : attributes)
        if (key == name) return value;
    return {};
}

PostfixReader::PostfixReader(PostfixLimits limits) : limits_(limits) {}

void PostfixReader::feed(std::string_view bytes) {
    if (failed_) return; // the daemon is closing this connection anyway
    buffer_.append(bytes);
}

std::size_t PostfixReader::buffered() const {
    return request_bytes_ + (buffer_.size() - pos_);
}

void PostfixReader::fail(const std::string& reason) {
    failed_ = true;
    buffer_.clear();
    pos_ = 0;
    throw ProtocolError("Postfix policy request: " + reason);
}

std::optional<PostfixRequest> PostfixReader::next() {
    if (failed_) throw ProtocolError("Postfix policy request: the connection failed earlier");
    return next_request();
}

std::optional<PostfixRequest> PostfixReader::next_request() {
    for (;;) {
        auto newline = buffer_.find('\n', pos_);
        if (newline == std::string::npos) {
            if (request_bytes_ + (buffer_.size() - pos_) > limits_.max_request_bytes)
                fail("longer than " + std::to_string(limits_.max_request_bytes) + " bytes");
            // Drop the lines already read, so that a long-lived connection
            // does not keep every request it ever sent.
            buffer_.erase(0, pos_);
            pos_ = 0;
            return std::nullopt;
        }
        std::string_view line(buffer_.data() + pos_, newline - pos_);
        pos_ = newline + 1;
        request_bytes_ += line.size() + 1;
        if (request_bytes_ > limits_.max_request_bytes)
            fail("longer than " + std::to_string(limits_.max_request_bytes) + " bytes");
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

        if (line.empty()) {
            request_bytes_ = 0;
            // A stray empty line between requests is no request.
            if (current_.attributes.empty()) continue;
            PostfixRequest done = std::move(current_);
            current_ = PostfixRequest{};
            return done;
        }
        if (line.find('\0') != std::string_view::npos) fail("NUL byte in a line");
        auto equals = line.find('=');
        if (equals == std::string_view::npos)
            fail("line without '=': \"" + printable_excerpt(line) + "\"");
        if (equals == 0) fail("empty attribute name: \"" + printable_excerpt(line) + "\"");
        if (current_.attributes.size() >= limits_.max_attributes)
            fail("more than " + std::to_string(limits_.max_attributes) + " attributes");
        current_.attributes.emplace_back(std::string(line.substr(0, equals)),
                                         std::string(line.substr(equals + 1)));
    }
}

std::string postfix_reply(std::string_view action) {
    std::string reply = "action=";
    std::string_view text = action.substr(0, std::min(action.size(), max_action_bytes));
    for (char c : text)
        reply += (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
    reply += "\n\n";
    return reply;
}

std::string printable_excerpt(std::string_view text, std::size_t limit) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (char c : text.substr(0, std::min(text.size(), limit))) {
        auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f && c != '\\' && c != '"') {
            out += c;
        } else {
            out += "\\x";
            out += hex[byte >> 4];
            out += hex[byte & 15];
        }
    }
    if (text.size() > limit) out += "...";
    return out;
}

} // namespace authguard::policy
