// asn-lookup - what the IP-to-AS table costs a hook: every login's process
// opens the table, looks one address up and exits, so the figure that
// matters is open + one lookup + close (own table: the header check and the
// few preads of a first lookup; MaxMind DB: mapping the file, finding its
// metadata, the page faults of the search, unmapping); a long-running
// reader (authguardctl scan, follow) pays the lookup alone (own table:
// through a mapping, after its first 32 lookups).
//
//   asn-lookup [-n ROUNDS] [-l LOOKUPS] TABLE...
//       for each TABLE (authguard's own table or a MaxMind DB):
//         open+lookup+close: median, p90, p99 ns over ROUNDS (default 5000)
//           rounds, a random routed-looking address each round;
//         lookups: ns per lookup and lookups/s over LOOKUPS (default
//           2,000,000) random addresses (IPv4 anywhere; IPv6 in 2000::/4),
//           with the share that found a provider.
//   asn-lookup --make-mmdb OUT CSV...
//       writes a MaxMind DB (GeoLite2-ASN layout) holding the ranges of
//       ip-location-db CSV files, to compare the two forms on the same
//       data (tests/unit/mmdb_writer.hpp; every range split into CIDRs).
//
// Build (from the top directory, after make):
//   g++ -std=c++20 -O2 -Iinclude -o build/asn-lookup bench/asn-lookup.cpp
//       build/libauthguard.a -lmaxminddb -lz
// Timings are printed, never judged.
#include "../tests/unit/mmdb_writer.hpp"
#include "authguard/asn/build.hpp"
#include "authguard/asn/table.hpp"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace {

using authguard::Address;
using authguard::asn::Table;
__extension__ using u128 = unsigned __int128;

std::int64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr, "asn-lookup: %s\n(see the comment at the top of bench/asn-lookup.cpp)\n",
                 why);
    std::exit(2);
}

std::int64_t percentile(std::vector<std::int64_t> v, double p) {
    std::sort(v.begin(), v.end());
    std::size_t at = std::min(v.size() - 1, static_cast<std::size_t>(p * double(v.size())));
    return v[at];
}

// IPv4 anywhere, or IPv6 in 2000::/4 where the allocations are.
std::vector<Address> random_addresses(std::size_t count, std::mt19937_64& random) {
    std::vector<Address> out(count);
    for (std::size_t i = 0; i < count; ++i) {
        std::uint64_t a = random(), b = random();
        Address& x = out[i];
        if (i % 4 == 3) {
            x.family = Address::Family::v6;
            std::memcpy(x.bytes.data(), &a, 8);
            std::memcpy(x.bytes.data() + 8, &b, 8);
            x.bytes[0] = static_cast<std::uint8_t>(0x20 | (x.bytes[0] & 0x0f));
        } else {
            x.family = Address::Family::v4;
            std::memcpy(x.bytes.data(), &a, 4);
        }
    }
    return out;
}

void measure(const char* path, int rounds, std::size_t lookups) {
    std::mt19937_64 random(12345);
    auto probes = random_addresses(static_cast<std::size_t>(rounds), random);
    std::vector<std::int64_t> samples;
    samples.reserve(static_cast<std::size_t>(rounds));
    std::size_t found = 0;
    for (int r = 0; r < rounds; ++r) {
        std::int64_t t0 = now_ns();
        {
            Table table = Table::open(path);
            found += table.lookup(probes[static_cast<std::size_t>(r)]).has_value();
        }
        samples.push_back(now_ns() - t0);
    }
    Table table = Table::open(path);
    auto info = table.info();
    std::printf("%s (%s)\n", path, info.format.c_str());
    std::printf("  open+lookup+close  median %lld ns  p90 %lld ns  p99 %lld ns  first %lld ns"
                "  (%d rounds, %zu found)\n",
                static_cast<long long>(percentile(samples, 0.5)),
                static_cast<long long>(percentile(samples, 0.9)),
                static_cast<long long>(percentile(samples, 0.99)),
                static_cast<long long>(samples.front()), rounds, found);

    auto addresses = random_addresses(lookups, random);
    found = 0;
    for (std::size_t i = 0; i < std::min<std::size_t>(lookups, 100000); ++i) // warm the pages
        found += table.lookup(addresses[i]).has_value();
    found = 0;
    std::int64_t t0 = now_ns();
    for (const auto& a : addresses)
        found += table.lookup(a).has_value();
    double ns = double(now_ns() - t0) / double(lookups);
    std::printf("  lookup             %.0f ns  %.2f M lookups/s  (%zu random addresses, %.0f%% "
                "found)\n",
                ns, 1000.0 / ns, lookups, 100.0 * double(found) / double(lookups));
}

// Splits [first, last] of `bits`-bit numbers into CIDR blocks.
void add_blocks(authguard::testing::MmdbWriter& writer, Address::Family family, u128 first,
                u128 last, std::uint32_t asn, const std::string& name) {
    int bits = family == Address::Family::v4 ? 32 : 128;
    for (;;) {
        int size = 0; // the largest aligned block at `first` that fits
        while (size + 1 < bits && ((first >> size) & 1) == 0) { // (never a /0)
            u128 block_last = first + ((u128{1} << (size + 1)) - 1);
            if (block_last > last) break;
            ++size;
        }
        Address base;
        base.family = family;
        u128 v = first;
        for (int i = bits / 8 - 1; i >= 0; --i, v >>= 8)
            base.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v);
        writer.add({{base, bits - size}, asn, name});
        u128 block_last = first + ((u128{1} << size) - 1);
        if (block_last >= last) return;
        first = block_last + 1;
    }
}

u128 value_of(const Address& a) {
    u128 v = 0;
    for (int i = 0; i < (a.family == Address::Family::v4 ? 4 : 16); ++i)
        v = (v << 8) | a.bytes[static_cast<std::size_t>(i)];
    return v;
}

int make_mmdb(const char* out, const std::vector<const char*>& inputs, int record_size) {
    authguard::testing::MmdbWriter writer(6, record_size);
    for (const char* input : inputs) {
        std::ifstream in(input);
        std::string line;
        while (std::getline(in, line)) {
            auto range =
                authguard::asn::parse_line(line, authguard::asn::InputFormat::location_csv);
            if (!range || range->asn == 0) continue;
            add_blocks(writer, range->first.family, value_of(range->first), value_of(range->last),
                       range->asn, range->name);
        }
    }
    std::string bytes;
    try {
        bytes = writer.bytes(static_cast<std::uint64_t>(::time(nullptr)));
    } catch (const std::length_error&) {
        if (record_size == 32) throw;
        return make_mmdb(out, inputs, 32); // too many nodes for 24-bit records
    }
    std::ofstream(out, std::ios::binary) << bytes;
    std::printf("wrote %s: %zu bytes, %d-bit records\n", out, bytes.size(), record_size);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    int rounds = 5000;
    std::size_t lookups = 2000000;
    std::vector<const char*> paths;
    try {
        if (argc >= 3 && std::strcmp(argv[1], "--make-mmdb") == 0) {
            if (argc < 4) usage("--make-mmdb wants OUT and CSV files");
            return make_mmdb(argv[2], std::vector<const char*>(argv + 3, argv + argc), 24);
        }
        for (int i = 1; i < argc; ++i) {
            if (std::strcmp(argv[i], "-n") == 0 && i + 1 < argc)
                rounds = std::atoi(argv[++i]);
            else if (std::strcmp(argv[i], "-l") == 0 && i + 1 < argc)
                lookups = static_cast<std::size_t>(std::atoll(argv[++i]));
            else if (argv[i][0] == '-')
                usage("unknown option");
            else
                paths.push_back(argv[i]);
        }
        if (paths.empty() || rounds < 1 || lookups < 1) usage("give at least one TABLE");
        for (const char* path : paths)
            measure(path, rounds, lookups);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "asn-lookup: %s\n", e.what());
        return 1;
    }
    return 0;
}
