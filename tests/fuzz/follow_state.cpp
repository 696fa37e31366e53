// follow_state.cpp - libFuzzer harness: authguardctl follow's state file
// ("v2 DEV INO OFFSET HASH SEGMENT HORIZON CONTEXT PATH" per line, and
// version 1 lines), read as follow reads it at a restart. A bad line is
// skipped, never a crash; what is read writes back as a file that reads
// to the same positions, so that a restart after a restart resumes at the
// same place. Compiled with tools/authguardctl/follow_state.cpp (Makefile).
#include "../../tools/authguardctl/follow.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace follow = authguardctl::follow;
    auto state = follow::parse_state(std::string_view(reinterpret_cast<const char*>(data), size));
    for (auto& [file, p] : state) {
        // Nothing before the context is needed, nothing after the position
        // done: a restart reads from context up.
        if (file.empty() || file.find('\n') != std::string::npos || p.context > p.offset)
            std::abort();
    }
    if (follow::parse_state(follow::format_state(state)) != state) std::abort();
    return 0;
}
