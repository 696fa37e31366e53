// checkpassword.cpp - libFuzzer harness: the bytes qmail-smtpd writes to a
// checkpassword program's fd 3 (user\0password\0timestamp\0), parsed as
// authguard-checkpw parses them.
#include "authguard/checkpassword.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    authguard::checkpassword::Input input;
    authguard::checkpassword::parse(std::string_view(reinterpret_cast<const char*>(data), size),
                                    input);
    return 0;
}
