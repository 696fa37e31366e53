// asn_command.cpp - authguardctl asn-db: building authguard's IP-to-AS table
// from downloaded CSV/TSV tables, looking addresses up in a table (own or
// MaxMind DB) and describing one. The table's format and the build rules
// are in lib/asn/; this file only reads the command line and prints.
#include "ctl.hpp"

#include "authguard/address.hpp"
#include "authguard/asn/build.hpp"
#include "authguard/asn/table.hpp"

#include <charconv>
#include <cstdlib>
#include <ctime>
#include <iostream>

namespace authguardctl {

namespace {

namespace asn = authguard::asn;

constexpr std::string_view asn_db_usage =
    "asn-db build OUT INPUT... | asn-db lookup DB ADDRESS... | asn-db info DB";

[[noreturn]] void asn_usage(const std::string& why) {
    throw UsageError(why + " (usage: authguardctl " + std::string(asn_db_usage) + ")");
}

// The build time recorded in the table: $AUTHGUARD_NOW when set (tests,
// reproducible builds), else now.
std::int64_t build_time() {
    if (const char* now = std::getenv("AUTHGUARD_NOW"); now && *now) {
        std::string_view text(now);
        std::int64_t value = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc{} || end != text.data() + text.size())
            throw UsageError("AUTHGUARD_NOW is not unix seconds");
        return value;
    }
    return static_cast<std::int64_t>(std::time(nullptr));
}

int asn_build(Context& ctx) {
    if (ctx.args.size() < 3) asn_usage("asn-db build wants OUT and at least one INPUT");
    std::filesystem::path out = ctx.args[1];
    std::vector<std::filesystem::path> inputs(ctx.args.begin() + 2, ctx.args.end());
    std::int64_t built = build_time();
    asn::BuildStats stats = asn::build_table(inputs, out, built);

    if (ctx.json) {
        Json j;
        j.begin_object();
        j.key("table").value(out.string());
        j.time("built", built);
        j.key("ranges_v4").value(static_cast<std::int64_t>(stats.ranges_v4));
        j.key("ranges_v6").value(static_cast<std::int64_t>(stats.ranges_v6));
        j.key("providers").value(static_cast<std::int64_t>(stats.providers));
        j.key("bytes").value(static_cast<std::int64_t>(stats.bytes));
        j.key("inputs").begin_array();
        for (const auto& in : stats.inputs) {
            j.begin_object();
            j.key("path").value(in.path.string());
            j.key("format").value(asn::format_name(in.format));
            j.key("lines").value(static_cast<std::int64_t>(in.lines));
            j.key("ranges").value(static_cast<std::int64_t>(in.ranges));
            j.key("not_routed").value(static_cast<std::int64_t>(in.not_routed));
            j.end_object();
        }
        j.end_array();
        j.end_object();
        print_json(j);
        return exit_ok;
    }
    std::cout << "built " << esc(out.string()) << ": " << stats.ranges_v4 << " IPv4 ranges, "
              << stats.ranges_v6 << " IPv6 ranges, " << stats.providers << " providers, "
              << stats.bytes << " bytes\n";
    for (const auto& in : stats.inputs)
        std::cout << "  " << esc(in.path.string()) << ": " << asn::format_name(in.format) << ", "
                  << in.lines << " lines, " << in.ranges << " ranges, " << in.not_routed
                  << " not routed (dropped)\n";
    return exit_ok;
}

int asn_lookup(Context& ctx) {
    if (ctx.args.size() < 3) asn_usage("asn-db lookup wants DB and at least one ADDRESS");
    // Every address is checked before the table is opened: a typo is a
    // usage error, not an unknown address.
    std::vector<authguard::Address> addresses;
    for (std::size_t i = 2; i < ctx.args.size(); ++i) {
        auto address = authguard::parse_address(ctx.args[i]);
        if (!address) asn_usage("'" + ctx.args[i] + "' is not an IPv4 or IPv6 address");
        addresses.push_back(*address);
    }
    asn::Table table = asn::Table::open(ctx.args[1]);

    bool all_found = true;
    Json j;
    j.begin_object().key("table").value(ctx.args[1]).key("results").begin_array();
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        const std::string& text = ctx.args[i + 2];
        auto provider = table.lookup(addresses[i]);
        all_found = all_found && provider.has_value();
        if (ctx.json) {
            j.begin_object().key("address").value(text).key("asn");
            if (provider)
                j.value(static_cast<std::int64_t>(provider->number))
                    .key("name")
                    .value(provider->name);
            else
                j.null().key("name").null();
            j.end_object();
        } else {
            std::cout << esc(text) << " " << (provider ? esc(asn::describe(*provider)) : "-")
                      << "\n";
        }
    }
    j.end_array().end_object();
    if (ctx.json) print_json(j);
    return all_found ? exit_ok : exit_not_found;
}

int asn_info(Context& ctx) {
    if (ctx.args.size() != 2) asn_usage("asn-db info wants exactly one DB");
    asn::TableInfo info = asn::Table::open(ctx.args[1]).info();
    bool counted = info.format != "mmdb"; // a MaxMind DB does not say its counts
    if (ctx.json) {
        Json j;
        j.begin_object();
        j.key("table").value(ctx.args[1]).key("format").value(info.format);
        j.time("built", info.built);
        auto count = [&](const char* name, std::uint64_t n) {
            j.key(name);
            if (counted)
                j.value(static_cast<std::int64_t>(n));
            else
                j.null();
        };
        count("ranges_v4", info.ranges_v4);
        count("ranges_v6", info.ranges_v6);
        count("providers", info.providers);
        j.key("description").value(info.description);
        j.end_object();
        print_json(j);
        return exit_ok;
    }
    auto count = [&](std::uint64_t n) { return counted ? std::to_string(n) : std::string("-"); };
    std::cout << "table        " << esc(ctx.args[1]) << "\n"
              << "format       " << info.format << "\n"
              << "built        " << utc(info.built) << "\n"
              << "ranges_v4    " << count(info.ranges_v4) << "\n"
              << "ranges_v6    " << count(info.ranges_v6) << "\n"
              << "providers    " << count(info.providers) << "\n"
              << "description  " << esc(info.description) << "\n";
    return exit_ok;
}

} // namespace

int cmd_asn_db(Context& ctx) {
    const std::string& sub = ctx.args.at(0);
    if (sub == "build") return asn_build(ctx);
    if (sub == "lookup") return asn_lookup(ctx);
    if (sub == "info") return asn_info(ctx);
    asn_usage("unknown asn-db command '" + sub + "'");
}

} // namespace authguardctl
