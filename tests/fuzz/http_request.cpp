// http_request.cpp - libFuzzer harness: HTTP requests as Dovecot's auth
// policy client (or anyone reaching the port) may send them, read by
// HttpReader, and each request read given to parse_dovecot_request. The
// input is fed in pieces whose sizes come from its first byte, and again in
// one piece; checked: both give the same requests or the same error status,
// statuses are the documented ones, bodies and headers stay within the
// limits, and Basic authentication and pwhash never crash.
#include "authguard/policy/dovecot.hpp"
#include "authguard/policy/http.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace ap = authguard::policy;

namespace {

struct Outcome {
    std::vector<ap::HttpRequest> requests;
    int status = 0;
};

Outcome read(std::string_view text, std::size_t piece, const ap::HttpLimits& limits) {
    Outcome out;
    ap::HttpReader reader(limits);
    try {
        while (!text.empty()) {
            std::size_t n = std::min(piece, text.size());
            reader.feed(text.substr(0, n));
            text.remove_prefix(n);
            while (auto request = reader.next())
                out.requests.push_back(std::move(*request));
        }
    } catch (const ap::HttpError& e) {
        out.status = e.status;
    }
    return out;
}

bool same(const ap::HttpRequest& a, const ap::HttpRequest& b) {
    return a.method == b.method && a.target == b.target && a.version == b.version &&
           a.headers == b.headers && a.body == b.body && a.keep_alive == b.keep_alive &&
           a.query == b.query;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::size_t piece = data[0] % 17 + 1;
    std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    // Small limits, so that the fuzzer reaches them.
    ap::HttpLimits limits{.max_header_bytes = 1024, .max_body_bytes = 512};

    Outcome whole = read(text, text.size() + 1, limits);
    Outcome pieces = read(text, piece, limits);
    if (whole.status != pieces.status || whole.requests.size() != pieces.requests.size())
        std::abort();
    switch (whole.status) {
    case 0:
    case 400:
    case 411:
    case 413:
    case 431:
    case 501:
    case 505:
        break;
    default:
        std::abort();
    }
    for (std::size_t i = 0; i < whole.requests.size(); ++i) {
        const auto& request = whole.requests[i];
        if (!same(request, pieces.requests[i])) std::abort();
        if (request.body.size() > limits.max_body_bytes) std::abort();
        if (request.method.empty() || request.target.empty()) std::abort();
        if (request.version != "HTTP/1.0" && request.version.rfind("HTTP/1.", 0) != 0) std::abort();
        for (const auto& [name, value] : request.headers) {
            if (name.empty() || name.find_first_of(":\r\n ") != std::string::npos) std::abort();
            for (char c : name)
                if (c >= 'A' && c <= 'Z') std::abort();
            if (!value.empty() && (value.front() == ' ' || value.back() == ' ')) std::abort();
        }
        try {
            auto dovecot = ap::parse_dovecot_request(request);
            if (dovecot.command == ap::DovecotCommand::report && !dovecot.success) std::abort();
            if (auto hash = ap::pwhash_value(dovecot.pwhash); hash && dovecot.pwhash.empty())
                std::abort();
            std::string answer =
                ap::dovecot_answer(static_cast<int>(dovecot.login.size() % 3) - 1, dovecot.login);
            if (answer.find('\n') != std::string::npos) std::abort();
        } catch (const ap::ProtocolError&) {
        }
        ap::basic_auth_matches(request.header("authorization"), "user:password");
        if (!ap::basic_auth_matches(request.header("authorization"), "")) std::abort();
        std::string response =
            ap::http_response(200, "application/json", request.body, request.keep_alive);
        if (response.size() < request.body.size()) std::abort();
    }
    return 0;
}
