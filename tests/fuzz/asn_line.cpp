// asn_line.cpp - libFuzzer harness: one line of an IP-to-AS table in each
// format `authguardctl asn-db build` reads (the first byte picks it). A
// line that is not one must end in BuildError, never a crash.
#include "authguard/asn/build.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    using authguard::asn::InputFormat;
    constexpr InputFormat formats[] = {InputFormat::location_csv, InputFormat::location_csv_v4_num,
                                       InputFormat::location_csv_v6_num, InputFormat::iptoasn_tsv,
                                       InputFormat::iptoasn_tsv_v4_num};
    InputFormat format = formats[data[0] % (sizeof formats / sizeof formats[0])];
    std::string_view line(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        authguard::asn::parse_line(line, format); // a bad line is a BuildError, named file:line
    } catch (const authguard::asn::BuildError&) {
    }
    authguard::asn::detect_format(line, "asn.csv");
    return 0;
}
