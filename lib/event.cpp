// event.cpp - small helpers around Event.
#include "authguard/event.hpp"

namespace authguard {

std::string_view to_string(Outcome outcome) {
    switch (outcome) {
    case Outcome::success: return "success";
    case Outcome::bad_password: return "bad-password";
    case Outcome::temporary_failure: return "temporary-failure";
    }
    return "unknown";
}

std::string service_for_port(std::string_view local_port) {
    if (local_port == "25") return "smtp";
    if (local_port == "465") return "smtps";
    if (local_port == "587") return "submission";
    if (local_port == "110") return "pop3";
    if (local_port == "995") return "pop3s";
    if (local_port == "143") return "imap";
    if (local_port == "993") return "imaps";
    std::string out = "port-";
    for (char c : local_port.substr(0, 5))
        if (c >= '0' && c <= '9') out += c;
    return out == "port-" ? "unknown" : out;
}

namespace {

std::string escape(std::string_view bytes, std::size_t limit, bool word) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i == limit) {
            out += "...";
            break;
        }
        auto c = static_cast<unsigned char>(bytes[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\' && !(word && (c == ' ' || c == '"'))) {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

} // namespace

std::string escape_for_log(std::string_view bytes, std::size_t limit) {
    return escape(bytes, limit, false);
}

std::string escape_word_for_log(std::string_view bytes, std::size_t limit) {
    return escape(bytes, limit, true);
}

} // namespace authguard
