// dovecot.cpp - Dovecot's auth policy requests and answers (see
// policy/dovecot.hpp). The body comes from the network behind a shared
// secret at best: every wrong shape is a ProtocolError naming the member,
// never a guess, so that a broken or newer Dovecot shows in the log.
#include "authguard/policy/dovecot.hpp"

#include "authguard/encoding.hpp"

#include "authguard/json.hpp"

#include <algorithm>
#include <string>
#include <variant>

namespace authguard::policy {

namespace {

void read_string(const json::Value& body, const char* name, std::string& out) {
    const json::Value* member = body.find(name);
    if (!member) return;
    const auto* text = std::get_if<std::string>(&member->v);
    if (!text)
        throw ProtocolError(std::string("Dovecot policy request: \"") + name +
                            "\" is not a string");
    out = *text;
}

std::optional<bool> read_bool(const json::Value& body, const char* name) {
    const json::Value* member = body.find(name);
    if (!member) return std::nullopt;
    const auto* flag = std::get_if<bool>(&member->v);
    if (!flag)
        throw ProtocolError(std::string("Dovecot policy request: \"") + name +
                            "\" is not true or false");
    return *flag;
}

// Equal contents, in a time that depends on the lengths only: a client that
// guesses the secret learns nothing from how long a wrong guess takes.
bool constant_time_equal(std::string_view a, std::string_view b) {
    unsigned difference = a.size() == b.size() ? 0 : 1;
    std::size_t length = std::max(a.size(), b.size());
    for (std::size_t i = 0; i < length; ++i) {
        auto x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0u;
        auto y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0u;
        difference |= x ^ y;
    }
    return difference == 0;
}

} // namespace

DovecotRequest parse_dovecot_request(const HttpRequest& request) {
    if (request.method != "POST")
        throw ProtocolError("Dovecot policy request: method " + request.method +
                            " (Dovecot POSTs)");
    DovecotRequest out;
    std::string_view command = request.query_parameter("command");
    if (command == "allow") {
        out.command = DovecotCommand::allow;
    } else if (command == "report") {
        out.command = DovecotCommand::report;
    } else if (command.empty()) {
        throw ProtocolError("Dovecot policy request: no ?command= in \"" +
                            printable_excerpt(request.target, 80) + "\"");
    } else {
        throw ProtocolError("Dovecot policy request: unknown command \"" +
                            printable_excerpt(command) + "\"");
    }

    json::Value body;
    try {
        body = json::parse(request.body);
    } catch (const json::ParseError& e) {
        throw ProtocolError(std::string("Dovecot policy request: body is not JSON: ") + e.what());
    }
    if (!std::holds_alternative<json::Object>(body.v))
        throw ProtocolError("Dovecot policy request: body is not a JSON object");
    read_string(body, "login", out.login);
    read_string(body, "remote", out.remote);
    read_string(body, "protocol", out.protocol);
    read_string(body, "pwhash", out.pwhash);
    read_string(body, "session_id", out.session_id);
    read_string(body, "device_id", out.device_id);
    out.tls = read_bool(body, "tls").value_or(false);
    out.success = read_bool(body, "success");
    out.policy_reject = read_bool(body, "policy_reject");
    if (out.command == DovecotCommand::report && !out.success)
        throw ProtocolError("Dovecot policy request: report without \"success\"");
    return out;
}

std::string dovecot_answer(int status, std::string_view message) {
    return "{\"status\":" + std::to_string(status) + ",\"msg\":" + json::quote(message) + "}";
}

bool basic_auth_matches(std::string_view authorization_header,
                        std::string_view expected_user_colon_password) {
    if (expected_user_colon_password.empty()) return true;
    std::string_view value = trim_blanks(authorization_header);
    constexpr std::string_view scheme = "basic";
    if (value.size() <= scheme.size()) return false;
    for (std::size_t i = 0; i < scheme.size(); ++i)
        if ((value[i] | 0x20) != scheme[i]) return false;
    if (value[scheme.size()] != ' ' && value[scheme.size()] != '\t') return false;
    auto credentials = base64_decode(trim_blanks(value.substr(scheme.size())));
    if (!credentials) return false;
    return constant_time_equal(*credentials, expected_user_colon_password);
}

std::optional<std::uint16_t> pwhash_value(std::string_view pwhash) {
    if (pwhash.empty() || pwhash.size() > 16) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : pwhash) {
        int digit = hex_digit(c);
        if (digit < 0) return std::nullopt;
        value = value << 4 | static_cast<std::uint64_t>(digit);
    }
    return static_cast<std::uint16_t>(value & 0xffff);
}

} // namespace authguard::policy
