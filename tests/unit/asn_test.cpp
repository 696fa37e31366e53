// asn_test.cpp - the IP-to-AS table: building authguard's own table from
// each input format (ip-location-db CSV and -num CSV, iptoasn TSV and u32,
// gzip), the overlap and merge rules, bad lines reported as FILE:LINE,
// lookups at every boundary, corrupt and truncated tables (never a crash),
// and MaxMind DB files written by tests/unit/mmdb_writer.hpp.
#include "authguard/asn/build.hpp"
#include "authguard/asn/table.hpp"

#include "../../lib/asn/format.hpp"
#include "mmdb_writer.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

using namespace authguard;
using namespace authguard::asn;
using authguard::testing::TempDir;

namespace {

Address addr(const char* text) {
    auto a = parse_address(text);
    REQUIRE_MESSAGE(a, text);
    return *a;
}

// The AS number the table gives `text`, 0 for none.
std::uint32_t asn_of(const Table& table, const char* text) {
    auto p = table.lookup(addr(text));
    return p ? p->number : 0;
}

std::string name_of(const Table& table, const char* text) {
    auto p = table.lookup(addr(text));
    return p ? std::string(p->name) : std::string("-");
}

std::string read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Builds a table from files given as name -> text, in that order.
Table build(const TempDir& dir, const std::vector<std::pair<std::string, std::string>>& files,
            BuildStats* stats = nullptr) {
    std::vector<std::filesystem::path> inputs;
    for (auto& [name, text] : files) {
        dir.write(name, text);
        inputs.push_back(dir.path() / name);
    }
    BuildStats s = build_table(inputs, dir.path() / "asn.table", 1700000000);
    if (stats) *stats = s;
    return Table::open(dir.path() / "asn.table");
}

// The message build_table throws, "" when it does not.
std::string build_error(const TempDir& dir, const std::string& name, const std::string& text) {
    dir.write(name, text);
    try {
        build_table({dir.path() / name}, dir.path() / "bad.table", 0);
    } catch (const BuildError& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

} // namespace

// Run alone with: unit-tests -ts=asn
TEST_SUITE_BEGIN("asn");

TEST_CASE("asn: ip-location-db CSV, IPv4 and IPv6, every boundary") {
    TempDir dir;
    BuildStats stats;
    Table t = build(dir,
                    {{"asn-ipv4.csv", "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n"
                                      "1.0.4.0,1.0.7.255,38803,Gtelecom Pty Ltd\n"
                                      "126.0.0.0,126.255.255.255,17676,SoftBank Corp.\n"
                                      "255.255.255.0,255.255.255.255,64512,Last\n"},
                     {"asn-ipv6.csv", "2001::,2001::ffff:ffff:ffff:ffff:ffff:ffff,6939,Hurricane "
                                      "Electric LLC\n"
                                      "2400:2000::,2400:2000:ffff:ffff:ffff:ffff:ffff:ffff,17676,"
                                      "SoftBank Corp.\n"
                                      "ffff::,ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,64513,\n"}},
                    &stats);
    CHECK(stats.ranges_v4 == 4);
    CHECK(stats.ranges_v6 == 3);
    CHECK(stats.providers == 6);
    CHECK(stats.inputs.size() == 2);
    CHECK(stats.inputs[0].format == InputFormat::location_csv);
    CHECK(stats.inputs[0].ranges == 4);

    CHECK(asn_of(t, "0.255.255.255") == 0);
    CHECK(asn_of(t, "1.0.0.0") == 13335);
    CHECK(name_of(t, "1.0.0.1") == "Cloudflare, Inc.");
    CHECK(asn_of(t, "1.0.0.255") == 13335);
    CHECK(asn_of(t, "1.0.1.0") == 0); // the gap
    CHECK(asn_of(t, "1.0.3.255") == 0);
    CHECK(asn_of(t, "1.0.4.0") == 38803);
    CHECK(asn_of(t, "1.0.7.255") == 38803);
    CHECK(asn_of(t, "1.0.8.0") == 0);
    CHECK(asn_of(t, "125.255.255.255") == 0);
    CHECK(asn_of(t, "126.0.0.0") == 17676);
    CHECK(asn_of(t, "126.100.0.1") == 17676); // a /16 bucket without a range start
    CHECK(asn_of(t, "126.255.255.255") == 17676);
    CHECK(asn_of(t, "127.0.0.0") == 0);
    CHECK(asn_of(t, "255.255.254.255") == 0);
    CHECK(asn_of(t, "255.255.255.0") == 64512);
    CHECK(asn_of(t, "255.255.255.255") == 64512);
    CHECK(asn_of(t, "0.0.0.0") == 0);

    CHECK(asn_of(t, "::") == 0);
    CHECK(asn_of(t, "2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == 0);
    CHECK(asn_of(t, "2001::") == 6939);
    CHECK(asn_of(t, "2001::ffff:ffff:ffff:ffff:ffff:ffff") == 6939);
    CHECK(asn_of(t, "2001:1::") == 0);
    CHECK(asn_of(t, "2400:2000::1") == 17676);
    CHECK(name_of(t, "2400:2000::1") == "SoftBank Corp.");
    CHECK(asn_of(t, "2400:2001::") == 0);
    CHECK(asn_of(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == 64513);
    CHECK(name_of(t, "ffff::1") == ""); // no name

    // IPv4-mapped IPv6 is looked up as the IPv4 address.
    CHECK(asn_of(t, "::ffff:126.0.0.1") == 17676);

    TableInfo info = t.info();
    CHECK(info.format == "authguard");
    CHECK(info.built == 1700000000);
    CHECK(info.ranges_v4 == 4);
    CHECK(info.ranges_v6 == 3);
    CHECK(info.providers == 6);
    CHECK(info.description == "asn-ipv4.csv, asn-ipv6.csv");
}

TEST_CASE("asn: describe") {
    CHECK(describe(Provider{17676, "SoftBank Corp."}) == "AS17676 SoftBank Corp.");
    CHECK(describe(Provider{17676, ""}) == "AS17676");
}

TEST_CASE("asn: quoted CSV names, CR LF, a header line, blank lines and comments") {
    TempDir dir;
    Table t = build(dir, {{"asn.csv", "start,end,asn,organisation\r\n"
                                      "10.0.0.0,10.0.0.255,1,\"A, B \"\"and\"\" C\"\r\n"
                                      "\r\n"
                                      "# a comment\n"
                                      "10.0.1.0,10.0.1.255,2,\"\"\n"
                                      "10.0.2.0,10.0.2.255,3,\"Enecom,Inc.\"\n"
                                      "10.0.3.0,10.0.3.255,4,plain name\n"}});
    CHECK(name_of(t, "10.0.0.7") == "A, B \"and\" C");
    CHECK(asn_of(t, "10.0.1.7") == 2);
    CHECK(name_of(t, "10.0.1.7") == "");
    CHECK(name_of(t, "10.0.2.7") == "Enecom,Inc.");
    CHECK(name_of(t, "10.0.3.7") == "plain name");
}

TEST_CASE("asn: the -num CSV forms, up to 2^128-1") {
    TempDir dir;
    BuildStats stats;
    Table t = build(
        dir,
        {{"asn-ipv4-num.csv", "16777216,16777471,13335,\"Cloudflare, Inc.\"\n"
                              "4294967040,4294967295,64512,Top\n"},
         {"asn-ipv6-num.csv", "42540488161975842760550356425300246528,"
                              "42540488241204005274814694018844196863,6939,Hurricane Electric LLC\n"
                              "340282366920938463463374607431768211455,"
                              "340282366920938463463374607431768211455,64513,Very last\n"},
         // No family in the name: the size of the numbers tells.
         {"numbers.csv", "0,4294967296,64514,Low v6\n"}},
        &stats);
    CHECK(stats.inputs[0].format == InputFormat::location_csv_v4_num);
    CHECK(stats.inputs[1].format == InputFormat::location_csv_v6_num);
    CHECK(stats.inputs[2].format == InputFormat::location_csv_v6_num);
    CHECK(asn_of(t, "1.0.0.0") == 13335);
    CHECK(asn_of(t, "1.0.0.255") == 13335);
    CHECK(asn_of(t, "1.0.1.0") == 0);
    CHECK(asn_of(t, "255.255.255.255") == 64512);
    CHECK(asn_of(t, "2001::") == 6939);
    CHECK(asn_of(t, "2001::ffff:ffff:ffff:ffff:ffff:ffff") == 6939);
    CHECK(asn_of(t, "2001:1::") == 0);
    CHECK(asn_of(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == 64513);
    CHECK(asn_of(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe") == 0);
    CHECK(asn_of(t, "::1:0:0") == 64514);
    CHECK(asn_of(t, "::1:0:1") == 0);
}

TEST_CASE("asn: iptoasn TSV (v4, v6, combined, u32); AS 0 is not routed and dropped") {
    TempDir dir;
    BuildStats stats;
    Table t =
        build(dir,
              {{"ip2asn-v4.tsv", "1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n"
                                 "1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n"
                                 "1.0.4.0\t1.0.7.255\t38803\tAU\tGTELECOM-AUSTRALIA\n"},
               {"ip2asn-v6.tsv", "::\t1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\t0\tNone\tNot "
                                 "routed\n"
                                 "2001:200::\t2001:200:ffff:ffff:ffff:ffff:ffff:ffff\t2500\tJP"
                                 "\tWIDE-BB WIDE Project\n"},
               {"ip2asn-combined.tsv", "2.0.0.0\t2.0.0.255\t3215\tFR\tFrance Telecom\n"
                                       "2a00::\t2a00::ffff\t3215\tFR\tFrance Telecom\n"},
               {"ip2asn-v4-u32.tsv", "50331648\t50331903\t7018\tUS\tATT-INTERNET4\n"}},
              &stats);
    CHECK(stats.inputs[0].format == InputFormat::iptoasn_tsv);
    CHECK(stats.inputs[0].ranges == 2);
    CHECK(stats.inputs[0].not_routed == 1);
    CHECK(stats.inputs[1].not_routed == 1);
    CHECK(stats.inputs[3].format == InputFormat::iptoasn_tsv_v4_num);
    CHECK(asn_of(t, "1.0.0.255") == 13335);
    CHECK(asn_of(t, "1.0.2.0") == 0);
    CHECK(asn_of(t, "1.0.4.0") == 38803);
    CHECK(name_of(t, "1.0.4.0") == "GTELECOM-AUSTRALIA");
    CHECK(asn_of(t, "2001:200::1") == 2500);
    CHECK(asn_of(t, "::1") == 0);
    CHECK(asn_of(t, "2.0.0.1") == 3215);
    CHECK(asn_of(t, "2a00::ffff") == 3215);
    CHECK(asn_of(t, "2a00::1:0") == 0);
    CHECK(asn_of(t, "3.0.0.0") == 7018);
    CHECK(asn_of(t, "3.0.0.255") == 7018);
    CHECK(asn_of(t, "3.0.1.0") == 0);
}

TEST_CASE("asn: gzip-compressed inputs") {
    TempDir dir;
    std::string text = "5.0.0.0,5.0.0.255,64500,\"Gzipped, Ltd\"\n";
    for (int i = 1; i < 2000; ++i) // several buffers' worth, across the reader's refills
        text += "6." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ".0,6." +
                std::to_string(i / 250) + "." + std::to_string(i % 250) + ".255," +
                std::to_string(64500 + i) + ",Provider number " + std::to_string(i) + "\n";
    auto path = dir.path() / "asn-ipv4.csv.gz";
    {
        gzFile gz = gzopen(path.c_str(), "wb");
        REQUIRE(gz);
        REQUIRE(gzwrite(gz, text.data(), static_cast<unsigned>(text.size())) ==
                static_cast<int>(text.size()));
        REQUIRE(gzclose(gz) == Z_OK);
    }
    BuildStats stats = build_table({path}, dir.path() / "gz.table", 0);
    CHECK(stats.inputs[0].lines == 2000);
    CHECK(stats.ranges_v4 == 2000);
    Table t = Table::open(dir.path() / "gz.table");
    CHECK(name_of(t, "5.0.0.9") == "Gzipped, Ltd");
    CHECK(asn_of(t, "6.7.249.1") == 64500 + 7 * 250 + 249);

    // Cut short: a clear error, no table.
    std::string gz = read_bytes(path);
    write_bytes(dir.path() / "cut.csv.gz", gz.substr(0, gz.size() / 2));
    try {
        build_table({dir.path() / "cut.csv.gz"}, dir.path() / "cut.table", 0);
        FAIL("a truncated gzip file was accepted");
    } catch (const BuildError& e) {
        CHECK(contains(e.what(), "cut.csv.gz"));
    }
    CHECK(!std::filesystem::exists(dir.path() / "cut.table"));
}

TEST_CASE("asn: overlaps go to the narrowest range, ties to the input read first") {
    TempDir dir;
    BuildStats stats;
    Table t = build(dir,
                    {{"a.csv", "10.0.0.0,10.255.255.255,100,Wide\n"
                               "10.1.0.0,10.1.0.255,200,Narrow inside\n"
                               "10.2.0.0,10.2.0.255,300,First of two equal\n"
                               "10.3.0.128,10.3.1.127,400,Partial left\n"
                               "10.3.1.0,10.3.1.191,500,Partial right narrower\n"},
                     {"b.csv", "10.2.0.0,10.2.0.255,301,Second of two equal\n"
                               "10.1.0.16,10.1.0.31,201,Innermost\n"}},
                    &stats);
    CHECK(asn_of(t, "10.0.0.0") == 100);
    CHECK(asn_of(t, "10.0.255.255") == 100);
    CHECK(asn_of(t, "10.1.0.0") == 200);
    CHECK(asn_of(t, "10.1.0.15") == 200);
    CHECK(asn_of(t, "10.1.0.16") == 201);
    CHECK(asn_of(t, "10.1.0.31") == 201);
    CHECK(asn_of(t, "10.1.0.32") == 200);
    CHECK(asn_of(t, "10.1.0.255") == 200);
    CHECK(asn_of(t, "10.1.1.0") == 100);
    CHECK(asn_of(t, "10.2.0.9") == 300);
    CHECK(asn_of(t, "10.3.0.127") == 100);
    CHECK(asn_of(t, "10.3.0.128") == 400);
    CHECK(asn_of(t, "10.3.0.255") == 400);
    CHECK(asn_of(t, "10.3.1.0") == 500);
    CHECK(asn_of(t, "10.3.1.191") == 500);
    CHECK(asn_of(t, "10.3.1.192") == 100);
    CHECK(asn_of(t, "10.255.255.255") == 100);
    CHECK(asn_of(t, "11.0.0.0") == 0);
    // AS 301 lost everywhere: it is not a provider of the table.
    CHECK(stats.providers == 6);
}

TEST_CASE("asn: adjacent ranges of one provider merge; names: the first non-empty wins") {
    TempDir dir;
    BuildStats stats;
    Table t = build(dir,
                    {{"a.csv", "10.0.0.0,10.0.0.255,7,\n"
                               "10.0.1.0,10.0.1.255,7,Seven\n"
                               "10.0.2.0,10.0.2.255,7,Seven later name\n"
                               "10.0.3.0,10.0.3.255,8,Eight\n"
                               "10.0.4.0,10.0.4.255,7,Seven\n"
                               "2001:db8::,2001:db8::ffff,7,\n"
                               "2001:db8::1:0,2001:db8::1:ffff,7,\n"}},
                    &stats);
    CHECK(stats.ranges_v4 == 3); // 10.0.0-2 | 10.0.3 | 10.0.4
    CHECK(stats.ranges_v6 == 1);
    CHECK(stats.providers == 2);
    CHECK(name_of(t, "10.0.0.1") == "Seven");
    CHECK(name_of(t, "10.0.2.1") == "Seven");
    CHECK(name_of(t, "2001:db8::1:1") == "Seven");
    CHECK(asn_of(t, "10.0.3.1") == 8);
}

TEST_CASE("asn: random overlapping ranges resolve as the rule says, address by address") {
    // A 4096-address space, 10.0.0.0/20, small enough to work out the
    // narrowest-then-first rule for every address by brute force.
    std::mt19937 random(20240501);
    for (int round = 0; round < 20; ++round) {
        TempDir dir;
        std::string csv;
        std::vector<std::uint32_t> expected(4096, 0), width(4096, 0);
        int count = 1 + static_cast<int>(random() % 60);
        for (int i = 0; i < count; ++i) {
            std::uint32_t first = random() % 4096;
            std::uint32_t last =
                std::min<std::uint32_t>(4095, first + random() % (1u << (random() % 13)));
            std::uint32_t asn = 1 + random() % 5;
            auto text = [](std::uint32_t n) {
                return "10.0." + std::to_string(n / 256) + "." + std::to_string(n % 256);
            };
            csv += text(first) + "," + text(last) + "," + std::to_string(asn) + ",AS" +
                   std::to_string(asn) + "\n";
            for (std::uint32_t a = first; a <= last; ++a)
                if (expected[a] == 0 || last - first + 1 < width[a]) {
                    expected[a] = asn;
                    width[a] = last - first + 1;
                }
        }
        Table t = build(dir, {{"random.csv", csv}});
        for (std::uint32_t a = 0; a < 4096; ++a) {
            Address address = addr("10.0.0.0");
            address.bytes[2] = static_cast<std::uint8_t>(a / 256);
            address.bytes[3] = static_cast<std::uint8_t>(a % 256);
            auto p = t.lookup(address);
            std::uint32_t got = p ? p->number : 0;
            if (got != expected[a]) {
                INFO("round " << round << " address 10.0." << a / 256 << "." << a % 256 << "\n"
                              << csv);
                CHECK(got == expected[a]);
                break;
            }
        }
        CHECK(asn_of(t, "9.255.255.255") == 0);
        CHECK(asn_of(t, "10.0.16.0") == 0);
    }
}

TEST_CASE("asn: deeply nested ranges build quickly") {
    TempDir dir;
    std::string csv;
    for (std::uint32_t i = 0; i < 20000; ++i) // [i, 2^24 - 1 - i], each inside the previous
        csv += std::to_string(i) + "," + std::to_string((1u << 24) - 1 - i) + "," +
               std::to_string(1 + i % 3) + ",\n";
    BuildStats stats;
    Table t = build(dir, {{"nested-ipv4-num.csv", csv}}, &stats);
    CHECK(stats.ranges_v4 == 39999);
    CHECK(asn_of(t, "0.0.0.0") == 1);
    CHECK(asn_of(t, "0.0.0.1") == 2);
    CHECK(asn_of(t, "0.128.0.0") == 1 + 19999 % 3);
    CHECK(asn_of(t, "0.255.255.255") == 1);
    CHECK(asn_of(t, "1.0.0.0") == 0);
}

TEST_CASE("asn: bad lines stop the build as FILE:LINE: reason, and nothing is written") {
    TempDir dir;
    auto line2 = [&](const std::string& name, const std::string& bad_line) {
        return build_error(dir, name, "1.0.0.0,1.0.0.255,13335,Good\n" + bad_line + "\n");
    };
    std::string e = line2("a.csv", "1.0.1.0,1.0.1.255,13335");
    CHECK(contains(e, "a.csv:2: 3 fields"));
    e = line2("b.csv", "1.0.1.0,1.0.1.256,13335,X");
    CHECK(contains(e, "b.csv:2: bad end address '1.0.1.256'"));
    e = line2("c.csv", "1.0.2.0,1.0.1.255,13335,X");
    CHECK(contains(e, "c.csv:2: start 1.0.2.0 is after end 1.0.1.255"));
    e = line2("d.csv", "1.0.1.0,2001::,13335,X");
    CHECK(contains(e, "d.csv:2: start 1.0.1.0 and end 2001:: are not of one address family"));
    e = line2("e.csv", "1.0.1.0,1.0.1.255,4294967296,X");
    CHECK(contains(e, "e.csv:2: bad AS number '4294967296'"));
    e = line2("f.csv", "1.0.1.0,1.0.1.255,AS1,X");
    CHECK(contains(e, "f.csv:2: bad AS number 'AS1'"));
    e = line2("g.csv", "1.0.1.0,1.0.1.255,1,\"Not closed");
    CHECK(contains(e, "g.csv:2: a quoted field is not closed"));
    e = line2("h.csv", "1.0.1.0,1.0.1.255,1,\"Quoted\" then text");
    CHECK(contains(e, "h.csv:2: text after a quoted field's closing quote"));
    e = line2("i.csv", "1.0.1.0,1.0.1.255,1,Un\"quoted");
    CHECK(contains(e, "i.csv:2: a quote inside an unquoted field"));
    e = line2("j.csv", "1.0.1.0,1.0.1.255,1,Name, with a comma");
    CHECK(contains(e, "j.csv:2: 5 fields"));
    e = line2("k.csv", "1.0.1.0,1.0.1.255,1," + std::string(max_name_length + 1, 'x'));
    CHECK(contains(e, "k.csv:2: provider name longer than"));
    e = build_error(dir, "asn-ipv4-num.csv", "16777216,16777471,1,X\n4294967295,4294967296,1,X\n");
    CHECK(contains(e, "asn-ipv4-num.csv:2: end '4294967296' is past the last IPv4 address"));
    e = build_error(dir, "v6-num.csv", "0,340282366920938463463374607431768211456,1,X\n");
    CHECK(contains(e, "v6-num.csv:1: end '340282366920938463463374607431768211456' is past the "
                      "last IPv6 address"));
    e = build_error(dir, "t.tsv", "1.0.0.0\t1.0.0.255\t13335\tUS\n");
    CHECK(contains(e, "t.tsv:1: 4 fields"));
    e = build_error(dir, "u.txt", "\n\nhello world\n");
    CHECK(contains(e, "u.txt:3: not a line of an ASN table"));
    e = build_error(dir, "empty.csv", "");
    CHECK(contains(e, "empty.csv: holds no ranges"));
    e = build_error(dir, "long.csv", "1.0.0.0,1.0.0.255,1,X\n" + std::string(70000, 'x') + "\n");
    CHECK(contains(e, "long.csv:2: line longer than"));
    e = build_error(dir, "nul.csv", std::string("1.0.0.0,1.0.0.") + '\0' + ",1,X\n");
    CHECK(contains(e, "nul.csv:1: bad end address"));
    CHECK(!std::filesystem::exists(dir.path() / "bad.table"));

    // A failed build leaves an existing table as it was, and no temporary file.
    TempDir fresh;
    build(fresh, {{"good.csv", "1.0.0.0,1.0.0.255,13335,Good\n"}});
    std::string before = read_bytes(fresh.path() / "asn.table");
    fresh.write("bad.csv", "1.0.0.0,1.0.0.255,13335,Good\nbroken\n");
    CHECK_THROWS_AS(build_table({fresh.path() / "bad.csv"}, fresh.path() / "asn.table", 0),
                    BuildError);
    CHECK(read_bytes(fresh.path() / "asn.table") == before);
    int files = 0;
    for ([[maybe_unused]] auto& entry : std::filesystem::directory_iterator(fresh.path()))
        ++files;
    CHECK(files == 3); // good.csv, bad.csv, asn.table

    // A missing input.
    try {
        build_table({dir.path() / "missing.csv"}, dir.path() / "x.table", 0);
        FAIL("a missing input was accepted");
    } catch (const BuildError& e2) {
        CHECK(contains(e2.what(), "missing.csv: cannot open"));
    }
    // Only AS 0.
    e = build_error(dir, "zero.tsv", "1.0.0.0\t1.0.0.255\t0\tNone\tNot routed\n");
    CHECK(contains(e, "no range of a routed AS"));
}

TEST_CASE("asn: parse_line and detect_format on their own") {
    auto r = parse_line("1.2.3.0,1.2.3.255,64500,\"X, Y\"\r", InputFormat::location_csv);
    REQUIRE(r);
    CHECK(r->first == addr("1.2.3.0"));
    CHECK(r->last == addr("1.2.3.255"));
    CHECK(r->asn == 64500);
    CHECK(r->name == "X, Y");
    CHECK(!parse_line("", InputFormat::location_csv));
    CHECK(!parse_line("  \t", InputFormat::iptoasn_tsv));
    CHECK(!parse_line("# comment", InputFormat::iptoasn_tsv));
    // An IPv4-mapped range stays IPv6 (it is what the line says).
    r = parse_line("::ffff:1.2.3.0\t::ffff:1.2.3.255\t1\tUS\tX", InputFormat::iptoasn_tsv);
    REQUIRE(r);
    CHECK(r->first.family == Address::Family::v6);
    CHECK_THROWS_AS(parse_line("1.2.3.0,1.2.3.255,1", InputFormat::location_csv), BuildError);
    CHECK_THROWS_AS(parse_line("a,b,c,d", InputFormat::location_csv_v6_num), BuildError);
    CHECK_THROWS_AS(parse_line("fe80::1%eth0,fe80::2,1,X", InputFormat::location_csv), BuildError);

    CHECK(detect_format("1.0.0.0,1.0.0.255,1,X", "asn-ipv4.csv") == InputFormat::location_csv);
    CHECK(detect_format("2001::,2001::ff,1,X", "x") == InputFormat::location_csv);
    CHECK(detect_format("16777216,16777471,1,X", "asn-ipv4-num.csv") ==
          InputFormat::location_csv_v4_num);
    CHECK(detect_format("16777216,16777471,1,X", "asn-ipv6-num.csv.gz") ==
          InputFormat::location_csv_v6_num);
    CHECK(detect_format("16777216,16777471,1,X", "numbers.csv") ==
          InputFormat::location_csv_v4_num);
    CHECK(detect_format("1.0.0.0\t1.0.0.255\t1\tUS\tX", "ip2asn-v4.tsv") ==
          InputFormat::iptoasn_tsv);
    CHECK(detect_format("16777216\t16777471\t1\tUS\tX", "ip2asn-v4-u32.tsv") ==
          InputFormat::iptoasn_tsv_v4_num);
    CHECK(!detect_format("hello world", "x"));
    CHECK(!detect_format("hello,world", "x"));
    CHECK(is_header_line("start,end,asn,organisation"));
    CHECK(is_header_line("range_start\trange_end\tAS_number\tcountry_code\tAS_description"));
    CHECK(!is_header_line("1.0.0.0,1.0.0.255,1,X"));
    CHECK(!is_header_line("abcd::,abcd::ff,1,X"));

    // Any bytes: a BuildError or a range, nothing else.
    std::mt19937 random(7);
    const std::string alphabet = "0123456789.:,\t\"abcdefAS \r\xff";
    for (int i = 0; i < 20000; ++i) {
        std::string line;
        std::size_t length = random() % 60;
        for (std::size_t k = 0; k < length; ++k)
            line += alphabet[random() % alphabet.size()];
        for (auto format : {InputFormat::location_csv, InputFormat::location_csv_v4_num,
                            InputFormat::location_csv_v6_num, InputFormat::iptoasn_tsv,
                            InputFormat::iptoasn_tsv_v4_num}) {
            try {
                (void)parse_line(line, format);
            } catch (const BuildError&) {
            }
        }
        (void)detect_format(line, "x.csv");
        (void)is_header_line(line);
    }
}

TEST_CASE("asn: opening what is not a table fails cleanly") {
    TempDir dir;
    CHECK_THROWS_AS(Table::open(dir.path() / "missing.table"), TableError);
    try {
        Table::open(dir.path() / "missing.table");
    } catch (const TableError& e) {
        CHECK(contains(e.what(), "missing.table: cannot open"));
    }
    CHECK_THROWS_AS(Table::open(dir.path()), TableError); // a directory
    dir.write("empty", "");
    CHECK_THROWS_AS(Table::open(dir.path() / "empty"), TableError);
    dir.write("text", "1.0.0.0,1.0.0.255,13335,Cloudflare\n");
    try {
        Table::open(dir.path() / "text");
        FAIL("a CSV file opened as a table");
    } catch (const TableError& e) {
        CHECK(contains(e.what(), "neither an authguard ASN table nor a MaxMind DB"));
    }
    write_bytes(dir.path() / "magic-only", std::string("AGASN\0\r\n", 8));
    CHECK_THROWS_AS(Table::open(dir.path() / "magic-only"), TableError);
}

TEST_CASE("asn: a truncated or damaged own table never crashes a lookup") {
    TempDir dir;
    std::string csv, csv6;
    for (int i = 0; i < 250; ++i) {
        csv += "10." + std::to_string(i) + ".0.0,10." + std::to_string(i) + ".127.255," +
               std::to_string(1000 + i % 40) + ",Provider " + std::to_string(i % 40) + "\n";
        csv6 += "2001:db8:" + std::to_string(i) + "::,2001:db8:" + std::to_string(i) +
                ":ffff:ffff:ffff:ffff:ffff," + std::to_string(2000 + i % 30) + ",V6 " +
                std::to_string(i % 30) + "\n";
    }
    build(dir, {{"a.csv", csv}, {"b.csv", csv6}});
    const std::string good = read_bytes(dir.path() / "asn.table");
    auto path = dir.path() / "damaged.table";

    std::vector<Address> probes;
    std::mt19937 random(99);
    for (int i = 0; i < 200; ++i) {
        Address v4 = addr("10.0.0.0");
        v4.bytes[1] = static_cast<std::uint8_t>(random() % 256);
        v4.bytes[2] = static_cast<std::uint8_t>(random() % 256);
        v4.bytes[3] = static_cast<std::uint8_t>(random() % 256);
        if (i % 5 == 0) v4.bytes[0] = static_cast<std::uint8_t>(random() % 256);
        probes.push_back(v4);
        Address v6 = addr("2001:db8::");
        for (std::size_t k = 4; k < 16; ++k)
            v6.bytes[k] = static_cast<std::uint8_t>(random() % 256);
        if (i % 5 == 0) v6.bytes[0] = static_cast<std::uint8_t>(random() % 256);
        probes.push_back(v6);
    }

    // Every truncation fails at open (the header records the file's size).
    for (std::size_t size : {std::size_t{0}, std::size_t{7}, std::size_t{8}, std::size_t{100},
                             format::header_size, good.size() / 2, good.size() - 1}) {
        write_bytes(path, good.substr(0, size));
        CHECK_THROWS_AS(Table::open(path), TableError);
    }
    write_bytes(path, good + "x");
    CHECK_THROWS_AS(Table::open(path), TableError);

    // Random damage: opening may fail (TableError) or succeed; lookups give
    // an answer or nullopt, and names stay inside the file.
    int opened = 0;
    for (int round = 0; round < 400; ++round) {
        std::string bad = good;
        int flips = 1 + static_cast<int>(random() % 8);
        for (int f = 0; f < flips; ++f) {
            // Half the damage in the header, where the offsets are.
            std::size_t at = random() % 2 ? random() % 192 : random() % bad.size();
            bad[at] = static_cast<char>(random() % 256);
        }
        write_bytes(path, bad);
        try {
            Table t = Table::open(path);
            ++opened;
            for (const auto& a : probes) {
                auto p = t.lookup(a);
                if (p) {
                    CHECK(p->number != 0);
                    // The name lies inside the mapping: reading it must not fault.
                    std::size_t sum = 0;
                    for (char c : p->name)
                        sum += static_cast<unsigned char>(c);
                    (void)sum;
                }
            }
            (void)t.info();
        } catch (const TableError&) {
        }
    }
    CHECK(opened > 0);
}

TEST_CASE("asn: the first lookups (pread) and the later ones (mapped) answer alike") {
    TempDir dir;
    std::string csv;
    for (int i = 0; i < 200; ++i)
        csv += "10.0." + std::to_string(i) + ".0,10.0." + std::to_string(i) + ".99," +
               std::to_string(100 + i) + ",Name " + std::to_string(i) + "\n";
    csv += "2001:db8::,2001:db8::ffff,7,Seven\n";
    build(dir, {{"a.csv", csv}});
    std::vector<Address> probes;
    for (int i = 0; i < 210; ++i) {
        Address a = addr("10.0.0.0");
        a.bytes[2] = static_cast<std::uint8_t>(i);
        a.bytes[3] = static_cast<std::uint8_t>(i % 2 ? 50 : 150); // inside, or in the gap
        probes.push_back(a);
    }
    probes.push_back(addr("2001:db8::1"));
    probes.push_back(addr("2001:db8::1:0"));

    // Forwards in one table, backwards in another: every probe is answered
    // once by pread (among the first 32 of one table) and once mapped.
    Table forwards = Table::open(dir.path() / "asn.table");
    Table backwards = Table::open(dir.path() / "asn.table");
    std::vector<std::optional<Provider>> a(probes.size()), b(probes.size());
    for (std::size_t i = 0; i < probes.size(); ++i)
        a[i] = forwards.lookup(probes[i]);
    for (std::size_t i = probes.size(); i-- > 0;)
        b[i] = backwards.lookup(probes[i]);
    for (std::size_t i = 0; i < probes.size(); ++i) {
        INFO(probes[i].to_string());
        REQUIRE(a[i].has_value() == b[i].has_value());
        if (a[i]) {
            CHECK(a[i]->number == b[i]->number);
            CHECK(a[i]->name == b[i]->name);
        }
    }
    CHECK(a[1]->number == 101);
    CHECK(a[1]->name == "Name 1"); // read by pread, still valid after the table mapped itself
    CHECK(!a[0]);
    CHECK(a[210]->name == "Seven");
    CHECK(!a[211]);
}

TEST_CASE("asn: an own table cut short while open answers nothing, never crashes") {
    TempDir dir;
    build(dir, {{"a.csv", "10.0.0.0,10.0.0.255,1,One\n10.200.0.0,10.200.0.255,2,Two\n"}});
    Table t = Table::open(dir.path() / "asn.table");
    CHECK(asn_of(t, "10.0.0.1") == 1);
    // Against the rules (tables are renamed into place), but the file is
    // not to be trusted: the pread lookups find the bytes gone.
    REQUIRE(::truncate((dir.path() / "asn.table").c_str(), 1000) == 0);
    CHECK(asn_of(t, "10.200.0.1") == 0);
}

TEST_CASE("asn: a new table renamed over the old one; a Table open on the old keeps it") {
    TempDir dir;
    Table old_table = build(dir, {{"a.csv", "1.0.0.0,1.0.0.255,1,Old\n"}});
    Table new_table = build(dir, {{"a.csv", "1.0.0.0,1.0.0.255,2,New\n"}});
    CHECK(name_of(old_table, "1.0.0.1") == "Old");
    CHECK(name_of(new_table, "1.0.0.1") == "New");
    struct stat st {};
    REQUIRE(::stat((dir.path() / "asn.table").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0644); // readable by the hooks' users
    Table moved = std::move(new_table);
    CHECK(asn_of(moved, "1.0.0.1") == 2);
}

TEST_CASE("asn: MaxMind DB, IPv6 tree with IPv4 under ::/96") {
    TempDir dir;
    testing::MmdbWriter writer(6);
    writer.add({*parse_cidr("126.0.0.0/8"), 17676, "SoftBank Corp."});
    writer.add({*parse_cidr("1.0.0.0/24"), 13335, "Cloudflare, Inc."});
    writer.add({*parse_cidr("1.0.4.0/22"), 38803, ""});
    writer.add({*parse_cidr("1.0.8.0/24"), 0, "Not routed"});
    writer.add({*parse_cidr("2400:2000::/20"), 17676, "SoftBank Corp."});
    writer.add({*parse_cidr("2001:db8::/32"), 64500, "Wide"});
    writer.add({*parse_cidr("2001:db8:1::/48"), 64501, "Narrow inside"});
    auto path = dir.path() / "GeoLite2-ASN.mmdb";
    write_bytes(path, writer.bytes(1700000123));

    Table t = Table::open(path);
    CHECK(asn_of(t, "126.0.0.1") == 17676);
    CHECK(name_of(t, "126.255.255.255") == "SoftBank Corp.");
    CHECK(asn_of(t, "125.255.255.255") == 0);
    CHECK(asn_of(t, "127.0.0.0") == 0);
    CHECK(name_of(t, "1.0.0.1") == "Cloudflare, Inc.");
    CHECK(asn_of(t, "1.0.1.0") == 0);
    CHECK(asn_of(t, "1.0.7.255") == 38803);
    CHECK(name_of(t, "1.0.7.255") == "");
    CHECK(asn_of(t, "1.0.8.1") == 0); // AS 0
    CHECK(asn_of(t, "2400:2000::1") == 17676);
    CHECK(asn_of(t, "2400:3000::") == 0);
    CHECK(asn_of(t, "2001:db8::1") == 64500);
    CHECK(asn_of(t, "2001:db8:1::1") == 64501);
    CHECK(asn_of(t, "2001:db8:2::1") == 64500);
    CHECK(asn_of(t, "::ffff:126.1.2.3") == 17676);
    TableInfo info = t.info();
    CHECK(info.format == "mmdb");
    CHECK(info.built == 1700000123);
    CHECK(info.description == "GeoLite2-ASN");

    // The writer's file is a real MaxMind DB: libmaxminddb's own tool agrees.
    if (::access("/usr/bin/mmdblookup", X_OK) == 0) {
        std::string command = "/usr/bin/mmdblookup --file '" + path.string() +
                              "' --ip 126.0.0.1 autonomous_system_number 2>&1";
        std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), &::pclose);
        REQUIRE(pipe);
        std::string output;
        char buf[256];
        while (std::fgets(buf, sizeof buf, pipe.get()))
            output += buf;
        CHECK(contains(output, "17676 <uint32>"));
    }
}

TEST_CASE("asn: MaxMind DB, IPv4-only tree") {
    TempDir dir;
    testing::MmdbWriter writer(4);
    writer.add({*parse_cidr("126.0.0.0/8"), 17676, "SoftBank Corp."});
    auto path = dir.path() / "v4.mmdb";
    write_bytes(path, writer.bytes(1));
    Table t = Table::open(path);
    CHECK(asn_of(t, "126.0.0.1") == 17676);
    CHECK(asn_of(t, "127.0.0.1") == 0);
    CHECK(asn_of(t, "2400:2000::1") == 0); // IPv6 in an IPv4 tree: no provider
}

TEST_CASE("asn: a damaged MaxMind DB fails at open or looks up nothing, never crashes") {
    TempDir dir;
    testing::MmdbWriter writer(6);
    for (int i = 0; i < 64; ++i)
        writer.add({*parse_cidr(("10." + std::to_string(i) + ".0.0/16").c_str()),
                    static_cast<std::uint32_t>(100 + i), "Provider " + std::to_string(i)});
    const std::string good = writer.bytes(5);
    auto path = dir.path() / "damaged.mmdb";
    std::mt19937 random(3);
    for (int round = 0; round < 300; ++round) {
        std::string bad = good;
        for (int f = 0; f < 4; ++f)
            bad[random() % bad.size()] = static_cast<char>(random() % 256);
        write_bytes(path, bad);
        try {
            Table t = Table::open(path);
            for (int i = 0; i < 80; ++i) {
                Address a = addr("10.0.0.1");
                a.bytes[1] = static_cast<std::uint8_t>(i);
                auto p = t.lookup(a);
                if (p) CHECK(p->number != 0);
            }
        } catch (const TableError&) {
        }
    }
}

TEST_SUITE_END();
