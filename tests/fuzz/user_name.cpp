// user_name.cpp - libFuzzer harness: a login name as a client sends it,
// normalised as every hook does before it becomes a store key. The first
// byte picks the settings (lower-casing, length limit).
#include "authguard/config.hpp"
#include "authguard/guard.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    authguard::Config config;
    config.lowercase_users = (data[0] & 1) != 0;
    config.max_user_length = (data[0] & 2) != 0 ? 256 : 16;
    std::string out;
    authguard::normalize_user(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1),
                              config, out);
    return 0;
}
