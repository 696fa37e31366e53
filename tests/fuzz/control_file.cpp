// control_file.cpp - libFuzzer harness: control/authguard and
// control/authguard-allow (the input is both, split at the first NUL).
// A bad file must end in ConfigError, never a crash or a hang (Boost's
// placeholder loop was one).
#include "authguard/config.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    // asn-db opens the file it names: a fuzzer's "/dev/stdin" would block.
    if (text.find("asn-db") != std::string::npos) return 0;
    auto nul = text.find('\0');
    std::string main_text = text.substr(0, nul);
    std::string allow_text = nul == std::string::npos ? std::string() : text.substr(nul + 1);
    try {
        authguard::parse_config_text("/nonexistent/control", main_text, allow_text);
    } catch (const authguard::ConfigError&) {
    }
    return 0;
}
