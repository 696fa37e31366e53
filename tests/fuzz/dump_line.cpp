// dump_line.cpp - libFuzzer harness: one line of an authguardctl export file,
// as import reads it (lib/dump.cpp, lib/json.cpp). A bad line must end in an
// exception naming it, never a crash; a line that parses must write back
// as a line that parses to the same state (written identically again), so
// that export | import | export is the identity.
#include "authguard/dump.hpp"
#include "authguard/json.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view line(reinterpret_cast<const char*>(data), size);
    authguard::UserDump d;
    try {
        d = authguard::parse_dump(line);
    } catch (const std::runtime_error&) {
        return 0;
    }
    if (d.user.empty()) std::abort();
    std::string written = authguard::format_dump(d);
    authguard::UserDump again;
    try {
        again = authguard::parse_dump(written);
    } catch (const std::runtime_error&) {
        std::abort(); // export wrote a line import refuses
    }
    if (authguard::format_dump(again) != written) std::abort();
    // Any bytes survive a JSON string's round trip.
    auto quoted = authguard::json::parse(authguard::json::quote(line));
    auto* text = std::get_if<std::string>(&quoted.v);
    if (!text || *text != line) std::abort();
    return 0;
}
