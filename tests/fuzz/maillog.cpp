// maillog.cpp - libFuzzer harness: maillog lines in every format scan and
// follow read (syslog, multilog, the log-file copy), one per input line,
// through one parser so that state carried between lines is exercised too.
#include "authguard/logscan.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    authguard::logscan::Parser parser;
    parser.set_reference(1374486777);
    authguard::logscan::Line line;
    while (!text.empty()) {
        auto eol = text.find('\n');
        parser.parse(text.substr(0, eol), line);
        if (eol == std::string_view::npos) break;
        text.remove_prefix(eol + 1);
    }
    return 0;
}
