// scan_command.cpp - authguardctl scan FILE... | -: every user of a mail log
// at once, with the verdict the detector would have reached (scan.hpp does
// the work; this file reads the options and prints).
#include "logs_cli.hpp"

#include "authguard/guard.hpp"
#include "authguard/network_names.hpp"

#include <malloc.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>

#include <iostream>

namespace authguardctl {

namespace ag = authguard;

namespace {

// The scan's tables grow by doubling. By default glibc gives each large
// block its own mapping and unmaps it when freed, so every growth faulted
// in fresh pages again (a page fault costs some microseconds in a virtual
// machine): on a log with many distinct users and addresses (brute-force
// names, phones with a new address per login) that was a third of the
// scan's time. Kept in the heap, freed blocks are reused by the next
// growth. A short-lived command: the memory goes back at exit. The heap
// then grows 256 MiB at a time (address space: pages are only used once
// touched), and its first such step is given transparent huge pages where
// the system offers them on request ("madvise" mode): one fault per 2 MiB
// instead of 512 (best effort: the scan is the same without).
void keep_heap_for_scan() {
    constexpr std::uintptr_t huge_page = 2 << 20;
    ::mallopt(M_MMAP_THRESHOLD, 256 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 1 << 30);
    ::mallopt(M_TOP_PAD, 256 << 20);
    auto low = reinterpret_cast<std::uintptr_t>(::sbrk(0));
    void* volatile step = std::malloc(1 << 20); // makes the heap take its first step now
    std::free(step);
    auto high = reinterpret_cast<std::uintptr_t>(::sbrk(0));
    std::uintptr_t from = (low + huge_page - 1) & ~(huge_page - 1), to = high & ~(huge_page - 1);
    if (to > from) ::madvise(reinterpret_cast<void*>(from), to - from, MADV_HUGEPAGE);
}

// The table of users: columns separated by two spaces, numbers
// right-aligned, the text columns left-aligned, the last (the user name,
// escaped) never padded. Every row is made twice, once for the column
// widths and once to print, instead of being kept: with tens of thousands
// of brute-force names the kept rows were most of the scan's memory. The
// cells are rewritten in place, row after row.
class UserTable {
  public:
    explicit UserTable(bool named) : named_(named) {
        header_ = {"VERDICT", "LOCKED AT", "LOGINS", "ADDRS",   "NETS", "WIDE",
                   "MAX 1H",  "MAX 24H",   "FAILS",  "F-ADDRS", "MSGS", "RCPTS"};
        // With providers (asn-db), the one most of a user's addresses are
        // in, as in top; without a table the columns are as they always were.
        if (named) header_.push_back("BUSIEST WIDE NETWORK");
        header_.push_back("USER");
        left_.assign(header_.size(), false);
        left_[0] = left_[1] = true;
        if (named) left_[header_.size() - 2] = true;
        cells_.assign(header_.begin(), header_.end());
        for (auto c : header_)
            width_.push_back(c.size());
    }
    void measure(const UserSummary& s) {
        fill(s, false);
        for (std::size_t i = 0; i + 1 < cells_.size(); ++i)
            width_[i] = std::max(width_[i], cells_[i].size());
    }
    void print_header(std::string& out) const { append(header_, out); }
    void print(const UserSummary& s, std::string& out) {
        fill(s, true);
        append(cells_, out);
    }

  private:
    static constexpr std::size_t numbers = 10;
    // The cells of one row, as views into the summary, a few strings and
    // the number buffers; the last (the name) only when printing: it is
    // never padded.
    void fill(const UserSummary& s, bool with_name) {
        auto verdict = s.verdict == ag::Verdict::refuse_locked ? ag::Verdict::lock : s.verdict;
        std::size_t i = 0;
        cells_[i++] = ag::to_string(verdict);
        locked_at_ = utc(s.locked_at);
        cells_[i++] = locked_at_;
        const std::uint64_t values[numbers] = {s.logins,
                                               static_cast<std::uint64_t>(s.success_addresses),
                                               static_cast<std::uint64_t>(s.success_networks),
                                               static_cast<std::uint64_t>(s.success_wide_networks),
                                               static_cast<std::uint64_t>(s.max_addresses_1h),
                                               static_cast<std::uint64_t>(s.max_addresses_24h),
                                               s.failures,
                                               static_cast<std::uint64_t>(s.failing_addresses),
                                               s.messages,
                                               s.recipients};
        for (std::size_t k = 0; k < numbers; ++k) {
            auto end = std::to_chars(number_[k], number_[k] + sizeof number_[k], values[k]).ptr;
            cells_[i++] = std::string_view(number_[k], static_cast<std::size_t>(end - number_[k]));
        }
        if (named_) {
            if (s.busiest_wide_network.empty()) {
                busiest_ = "-";
            } else {
                busiest_ = esc(s.busiest_wide_network_label);
                busiest_ += ": ";
                busiest_ += std::to_string(s.busiest_wide_addresses);
            }
            cells_[i++] = busiest_;
        }
        if (with_name) {
            name_ = esc(s.user);
            cells_[i] = name_;
        }
    }
    void append(const std::vector<std::string_view>& row, std::string& out) const {
        for (std::size_t i = 0; i < row.size(); ++i) {
            if (i) out += "  ";
            std::size_t fill =
                i + 1 == row.size() || row[i].size() >= width_[i] ? 0 : width_[i] - row[i].size();
            if (!left_[i]) out.append(fill, ' ');
            out += row[i];
            if (left_[i]) out.append(fill, ' ');
        }
        out += '\n';
    }

    bool named_;
    std::vector<std::string_view> header_, cells_;
    std::vector<bool> left_;
    std::vector<std::size_t> width_;
    std::string locked_at_, busiest_, name_;
    char number_[numbers][24];
};

std::string time_option(const Context& ctx, const char* name) {
    return ctx.options.count(name) ? ctx.options[name].as<std::string>() : std::string();
}

} // namespace

ScanOptions scan_options(Context& ctx) {
    ScanOptions o;
    for (const char* name : {"since", "until"}) {
        std::string text = time_option(ctx, name);
        if (text.empty()) continue;
        std::int64_t t = 0;
        if (!ag::logscan::parse_time_argument(text, t))
            throw UsageError(std::string("--") + name +
                             " wants a time such as 2013-07-22, \"2013-07-22 18:00:00\" (local), "
                             "2013-07-22T09:00:00Z or @1374483600, not '" + text + "'");
        (std::string(name) == "since" ? o.since : o.until) = t;
    }
    if (o.since && o.until && *o.until <= *o.since)
        throw UsageError("--until must come after --since: the range is empty");
    if (ctx.options.count("user")) {
        for (auto& raw : ctx.options["user"].as<std::vector<std::string>>()) {
            std::string user;
            if (auto why = ag::normalize_user(raw, ctx.config(), user); !why.empty())
                throw UsageError("--user '" + raw + "': " + why);
            o.only_users.insert(user);
        }
    }
    o.replay_all = ctx.options.count("replay-all") && ctx.options["replay-all"].as<bool>();
    if (ctx.options.count("year")) {
        int year = ctx.options["year"].as<int>();
        if (year < 1970 || year > 9999) throw UsageError("--year wants a year such as 2013");
        o.first_year = year;
    }
    // A reader and a counter at most (see scan.hpp): by default both when
    // this process may run on two CPUs or more.
    o.threads = 2;
    if (cpu_set_t cpus; ::sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) < 2)
        o.threads = 1;
    if (ctx.options.count("threads")) {
        int threads = ctx.options["threads"].as<int>();
        if (threads < 1)
            throw UsageError("--threads wants 1 or more (more than 2 is 2), not " +
                             std::to_string(threads));
        o.threads = std::min(threads, 2);
    }
    // For the tests: who parses in a threaded scan (scan.hpp: ParseSide).
    if (const char* side = std::getenv("AUTHGUARD_TEST_SCAN_PARSE")) {
        using Side = ScanOptions::ParseSide;
        std::string_view s = side;
        o.parse_side = s == "reader"    ? Side::reader
                       : s == "counter" ? Side::counter
                                        : Side::balanced;
    }
    o.colliding_name_hashes = std::getenv("AUTHGUARD_TEST_SCAN_COLLIDING_NAMES") != nullptr;
    return o;
}

void add_scan_options(po::options_description& d) {
    d.add_options()("user", po::value<std::vector<std::string>>()->value_name("USER"),
                    "only this user (may be given more than once)")(
        "since", po::value<std::string>()->value_name("TIME"),
        "leave out events before TIME (2013-07-22, \"2013-07-22 18:00:00\" local, "
        "2013-07-22T09:00:00Z, @UNIX)")("until", po::value<std::string>()->value_name("TIME"),
                                        "leave out events at or after TIME")(
        "year", po::value<int>()->value_name("YEAR"),
        "the year of the first syslog line (default: told by the file's time)")(
        "replay-all", po::bool_switch(),
        "replay every login through the detector's store (slower, the same results)")(
        "threads", po::value<int>()->value_name("N"),
        "1: one thread; 2: one reads the logs while another counts, each line parsed by the "
        "less busy one, the same results (default: 2 when this process may run on two CPUs "
        "or more; more than 2 is 2)");
}

std::vector<std::string> input_paths(const Context& ctx) {
    std::vector<std::string> paths = ctx.args;
    if (std::count(paths.begin(), paths.end(), "-") > 1)
        throw UsageError("standard input (-) can be read only once");
    return rotation_order(paths);
}

std::string summary_text(const ScanTotals& t) {
    std::string out = std::to_string(t.inputs) + (t.inputs == 1 ? " input, " : " inputs, ") +
                      std::to_string(t.lines) + " lines: " +
                      std::to_string(t.auth_lines + t.mail_lines) + " used (" +
                      std::to_string(t.auth_lines) + " logins, " + std::to_string(t.mail_lines) +
                      " qmail-send), " + std::to_string(t.ignored) + " ignored";
    if (t.duplicates) out += ", " + std::to_string(t.duplicates) + " duplicate logins";
    if (t.outside_range) out += ", " + std::to_string(t.outside_range) + " outside --since/--until";
    if (t.other_users) out += ", " + std::to_string(t.other_users) + " of other users";
    out += ", " + std::to_string(t.skipped_total()) + " skipped";
    if (t.skipped_total() > 0) {
        std::string reasons;
        for (std::size_t i = 0; i < t.skipped.size(); ++i) {
            if (t.skipped[i] == 0) continue;
            reasons += (reasons.empty() ? "" : ", ") + std::to_string(t.skipped[i]) + " " +
                       std::string(ag::logscan::to_string(static_cast<ag::logscan::SkipReason>(i)));
        }
        out += " (" + reasons + ")";
    }
    if (t.unattributed_messages)
        out += "; " + std::to_string(t.unattributed_messages) +
               " messages from senders without a login";
    return out;
}

void user_json(Json& j, const UserSummary& s) {
    j.begin_object();
    j.key("user").value(s.user);
    j.key("verdict").value(ag::to_string(s.verdict == ag::Verdict::refuse_locked ? ag::Verdict::lock : s.verdict));
    j.key("locked_at");
    if (s.locked_at) j.value(s.locked_at);
    else j.null();
    j.key("locked_at_utc");
    if (s.locked_at) j.value(utc(s.locked_at));
    else j.null();
    j.key("lock_reason").value(s.lock_reason);
    j.key("logins").value(static_cast<std::int64_t>(s.logins));
    j.key("logins_allowed").value(static_cast<std::int64_t>(s.logins_allowed));
    j.key("logins_refused").value(static_cast<std::int64_t>(s.logins_refused));
    j.key("success_addresses").value(s.success_addresses);
    j.key("success_networks").value(s.success_networks);
    j.key("success_wide_networks").value(s.success_wide_networks);
    j.key("max_addresses_1h").value(s.max_addresses_1h);
    j.key("max_addresses_24h").value(s.max_addresses_24h);
    j.key("max_networks_1h").value(s.max_networks_1h);
    j.key("max_networks_24h").value(s.max_networks_24h);
    j.key("peak_new_networks_1h").value(s.peak_new_networks_1h);
    j.key("peak_new_networks_24h").value(s.peak_new_networks_24h);
    j.key("failures").value(static_cast<std::int64_t>(s.failures));
    j.key("failing_addresses").value(s.failing_addresses);
    j.key("failing_networks").value(s.failing_wide_networks);
    // as authguardctl top --json has it
    j.key("busiest_wide_network");
    if (s.busiest_wide_network.empty()) {
        j.null();
    } else {
        j.begin_object().key("network").value(s.busiest_wide_network);
        auto name = ag::label_name(s.busiest_wide_network, s.busiest_wide_network_label);
        j.key("provider_name");
        if (name.empty())
            j.null();
        else
            j.value(name);
        j.key("addresses").value(s.busiest_wide_addresses).end_object();
    }
    j.key("tempfails").value(static_cast<std::int64_t>(s.tempfails));
    j.key("messages").value(static_cast<std::int64_t>(s.messages));
    j.key("recipients").value(static_cast<std::int64_t>(s.recipients));
    j.time("first_seen", s.first_seen);
    j.time("last_seen", s.last_seen);
    j.key("alerts").value(static_cast<std::int64_t>(s.alerts));
    j.key("first_alert_at");
    if (s.first_alert_at) j.value(s.first_alert_at);
    else j.null();
    j.key("first_alert_reason").value(s.first_alert_reason);
    j.key("services").begin_array();
    for (auto& service : s.services) j.value(service);
    j.end_array();
    j.end_object();
}

int cmd_scan(Context& ctx) {
    ScanOptions options = scan_options(ctx);
    std::vector<std::string> paths = input_paths(ctx);
    keep_heap_for_scan();
    LogScan scan(ctx.config(), options);
    scan.add_inputs(paths);
    const ScanTotals& totals = scan.totals();

    std::vector<std::reference_wrapper<const UserSummary>> users = scan.ranked_users();
    if (ctx.json) {
        for (const UserSummary& s : users) {
            Json j;
            user_json(j, s);
            print_json(j);
        }
    } else if (users.empty()) {
        std::cout << "no logins found\n";
    } else {
        UserTable table(ctx.config().asn_table != nullptr);
        for (const UserSummary& s : users)
            table.measure(s);
        std::string out;
        table.print_header(out);
        for (const UserSummary& s : users) {
            table.print(s, out);
            if (out.size() >= 1 << 16) {
                std::cout.write(out.data(), static_cast<std::streamsize>(out.size()));
                out.clear();
            }
        }
        std::cout.write(out.data(), static_cast<std::streamsize>(out.size()));
    }
    std::cout.flush();
    std::cerr << "authguardctl: scan: " << summary_text(totals) << "\n";
    for (auto& e : totals.errors) std::cerr << "authguardctl: " << esc(e) << "\n";
    if (!totals.errors.empty()) return exit_other;
    if (!options.only_users.empty() && users.empty())
        throw NotFound("no logins of the given user(s) found");
    return exit_ok;
}

} // namespace authguardctl
