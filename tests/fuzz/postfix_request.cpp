// postfix_request.cpp - libFuzzer harness: Postfix policy requests as a
// client may send them, read by PostfixReader. The input is fed in pieces
// whose sizes come from its first byte, and again in one piece; checked:
// both give the same requests (or both fail), every attribute has a name
// without '=', NUL or line end, no request passes the limits, and the reply
// to any text is one line.
#include "authguard/policy/postfix.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace ap = authguard::policy;

namespace {

struct Outcome {
    std::vector<ap::PostfixRequest> requests;
    bool failed = false;
};

Outcome read(std::string_view text, std::size_t piece, const ap::PostfixLimits& limits) {
    Outcome out;
    ap::PostfixReader reader(limits);
    try {
        while (!text.empty()) {
            std::size_t n = std::min(piece, text.size());
            reader.feed(text.substr(0, n));
            text.remove_prefix(n);
            while (auto request = reader.next())
                out.requests.push_back(std::move(*request));
        }
    } catch (const ap::ProtocolError&) {
        out.failed = true;
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::size_t piece = data[0] % 17 + 1;
    std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    // Small limits, so that the fuzzer reaches them.
    ap::PostfixLimits limits{.max_request_bytes = 512, .max_attributes = 8};

    Outcome whole = read(text, text.size() + 1, limits);
    Outcome pieces = read(text, piece, limits);
    if (whole.failed != pieces.failed || whole.requests.size() != pieces.requests.size())
        std::abort();
    for (std::size_t i = 0; i < whole.requests.size(); ++i) {
        const auto& request = whole.requests[i];
        if (request.attributes != pieces.requests[i].attributes) std::abort();
        if (request.attributes.empty() || request.attributes.size() > limits.max_attributes)
            std::abort();
        std::size_t bytes = 1;
        for (const auto& [name, value] : request.attributes) {
            if (name.empty() ||
                name.find_first_of(std::string_view("=\n\0", 3)) != std::string::npos)
                std::abort();
            if (value.find_first_of(std::string_view("\n\0", 2)) != std::string::npos) std::abort();
            if (request.get(name).data() == nullptr) std::abort();
            bytes += name.size() + value.size() + 2;
        }
        if (bytes > limits.max_request_bytes) std::abort();
    }

    std::string reply = ap::postfix_reply(text);
    if (reply.size() > 7 + 512 + 2 || reply.find('\n') != reply.size() - 2 ||
        reply.find('\r') != std::string::npos || reply.find('\0') != std::string::npos)
        std::abort();
    return 0;
}
