// report.cpp - authguardctl report --html OUT.html: one self-contained HTML
// file (inline SVG and CSS, nothing fetched) that shows an incident to
// someone who never read a maillog: for each flagged user, new addresses
// per hour with their running total, failures, messages sent, the moment
// of the lock, and the addresses with their counts and networks.
//
// From logs (--scan FILE...: scanned twice, first to find the flagged
// users, then for their hourly series) or from the store (the users with a
// lock, or those named: what the store keeps, which is no messages and at
// most max-entries addresses per user).
#include "logs_cli.hpp"

#include "authguard/address.hpp"
#include "authguard/detector.hpp"
#include "authguard/guard.hpp"
#include "authguard/network_names.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

namespace authguardctl {

namespace ag = authguard;

namespace {

constexpr std::int64_t hour = 3600;

struct ReportUser {
    UserSummary summary;
    std::vector<AddressSummary> addresses;
    std::map<std::int64_t, HourSummary> hours; // bucket start -> counts
    bool has_messages = true;                  // false: from the store, which keeps none
    bool has_windows = true;                   // false: the most in an hour/day is unknown
};

// Text for HTML and SVG: &, <, >, quotes escaped; control bytes and bytes
// that are not UTF-8 shown as \xNN (names come from the network).
std::string html(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        switch (c) {
        case '&': out += "&amp;"; continue;
        case '<': out += "&lt;"; continue;
        case '>': out += "&gt;"; continue;
        case '"': out += "&quot;"; continue;
        case '\'': out += "&#39;"; continue;
        default: break;
        }
        if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
            continue;
        }
        if (c >= 0xc2) { // a multi-byte character, if it is whole and valid
            std::size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            if (i + n <= text.size() && ag::logscan::valid_utf8(text.substr(i, n))) {
                out.append(text.substr(i, n));
                i += n - 1;
                continue;
            }
        }
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
    }
    return out;
}

// The log's local time (TZ), as an admin reads it: "2013-07-22 18:52 +0900".
std::string local_time(std::int64_t t, bool seconds = false) {
    if (t == 0) return "-";
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    ::localtime_r(&tt, &tm);
    char buf[48];
    std::strftime(buf, sizeof buf, seconds ? "%Y-%m-%d %H:%M:%S %z" : "%Y-%m-%d %H:%M %z", &tm);
    return buf;
}

std::string short_time(std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    ::localtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, tm.tm_hour == 0 ? "%b %d" : "%H:%M", &tm);
    return buf;
}

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

std::int64_t bucket_start(std::int64_t t, std::int64_t size) {
    // buckets on the local clock's hours (a +09:30 zone gets half hours)
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    ::localtime_r(&tt, &tm);
    std::int64_t offset = tm.tm_gmtoff;
    std::int64_t local = t + offset;
    return local - ((local % size) + size) % size - offset;
}

// A round number of units for an axis of `top`.
int axis_step(int top) {
    for (int step : {1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000})
        if (top / step <= 5) return step;
    return 100000;
}

// One SVG chart: bars per bucket (one or two series) and, optionally, a
// line on a second axis; the lock as a red line. Self-contained markup.
struct Series {
    std::string name, color;
    std::vector<double> values;
};

std::string chart(const std::string& title, std::int64_t first, std::int64_t bucket,
                  const std::vector<Series>& bars, const Series* line, std::int64_t lock_at) {
    // the same margins with or without a right axis, so stacked charts' hours line up
    const int width = 1100, height = 270, left = 56, right = 56, top = 44, bottom = 44;
    const int plot_w = width - left - right, plot_h = height - top - bottom;
    std::size_t n = bars.empty() ? 0 : bars.front().values.size();
    double bar_max = 1;
    for (auto& s : bars)
        for (double v : s.values) bar_max = std::max(bar_max, v);
    int bar_step = axis_step(static_cast<int>(std::ceil(bar_max)));
    double bar_top = std::ceil(bar_max / bar_step) * bar_step;
    double line_max = 1;
    if (line)
        for (double v : line->values) line_max = std::max(line_max, v);
    int line_step = axis_step(static_cast<int>(std::ceil(line_max)));
    double line_top = std::ceil(line_max / line_step) * line_step;
    double slot = n ? static_cast<double>(plot_w) / static_cast<double>(n) : plot_w;
    auto x_of = [&](double i) { return left + i * slot; };
    auto y_bar = [&](double v) { return top + plot_h - v / bar_top * plot_h; };
    auto y_line = [&](double v) { return top + plot_h - v / line_top * plot_h; };

    std::ostringstream svg;
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 " << width << ' '
        << height << "\" role=\"img\" aria-label=\"" << html(title) << "\">\n";
    svg << "<title>" << html(title) << "</title>\n";
    svg << "<text x=\"" << left << "\" y=\"20\" class=\"ctitle\">" << html(title) << "</text>\n";
    // horizontal grid and the bars' axis
    for (double v = 0; v <= bar_top + 0.01; v += bar_step) {
        svg << "<line class=\"grid\" x1=\"" << left << "\" x2=\"" << left + plot_w << "\" y1=\""
            << number(y_bar(v)) << "\" y2=\"" << number(y_bar(v)) << "\"/>"
            << "<text class=\"axis\" text-anchor=\"end\" x=\"" << left - 6 << "\" y=\""
            << number(y_bar(v) + 4) << "\">" << static_cast<long long>(v) << "</text>\n";
    }
    if (line) {
        for (double v = 0; v <= line_top + 0.01; v += line_step)
            svg << "<text class=\"axis\" x=\"" << left + plot_w + 6 << "\" y=\"" << number(y_line(v) + 4)
                << "\" fill=\"" << line->color << "\">" << static_cast<long long>(v) << "</text>\n";

    }
    // time axis: a label at every local midnight, ticks at 6-hour steps
    std::int64_t end = first + static_cast<std::int64_t>(n) * bucket;
    for (std::int64_t t = bucket_start(first, hour); t <= end; t += hour) {
        std::time_t tt = static_cast<std::time_t>(t);
        std::tm tm{};
        ::localtime_r(&tt, &tm);
        if (tm.tm_hour % 6 != 0 || tm.tm_min != 0) continue;
        double x = x_of(static_cast<double>(t - first) / static_cast<double>(bucket));
        if (x < left || x > left + plot_w) continue;
        svg << "<line class=\"tick\" x1=\"" << number(x) << "\" x2=\"" << number(x) << "\" y1=\""
            << top + plot_h << "\" y2=\"" << top + plot_h + (tm.tm_hour == 0 ? 8 : 4) << "\"/>";
        if (tm.tm_hour == 0 || (end - first) <= 3 * 86400)
            svg << "<text class=\"axis\" text-anchor=\"middle\" x=\"" << number(x) << "\" y=\""
                << top + plot_h + 20 << "\">" << html(short_time(t)) << "</text>";
        svg << "\n";
    }
    // bars, side by side when there are two series
    double bar_w = std::max(1.0, slot * 0.8 / static_cast<double>(std::max<std::size_t>(1, bars.size())));
    for (std::size_t b = 0; b < bars.size(); ++b) {
        for (std::size_t i = 0; i < n; ++i) {
            double v = bars[b].values[i];
            if (v <= 0) continue;
            double x = x_of(static_cast<double>(i)) + slot * 0.1 + bar_w * static_cast<double>(b);
            svg << "<rect x=\"" << number(x) << "\" y=\"" << number(y_bar(v)) << "\" width=\""
                << number(bar_w) << "\" height=\"" << number(y_bar(0) - y_bar(v)) << "\" fill=\""
                << bars[b].color << "\"><title>" << html(local_time(first + static_cast<std::int64_t>(i) * bucket))
                << ": " << static_cast<long long>(v) << ' ' << html(bars[b].name) << "</title></rect>";
        }
        svg << "\n";
    }
    if (line && n) {
        svg << "<polyline class=\"total\" fill=\"none\" stroke=\"" << line->color
            << "\" stroke-width=\"2.5\" points=\"";
        for (std::size_t i = 0; i < n; ++i)
            svg << number(x_of(static_cast<double>(i) + 0.5)) << ',' << number(y_line(line->values[i])) << ' ';
        svg << "\"/>\n";
    }
    svg << "<line class=\"frame\" x1=\"" << left << "\" x2=\"" << left + plot_w << "\" y1=\""
        << top + plot_h << "\" y2=\"" << top + plot_h << "\"/>\n";
    if (lock_at >= first && lock_at <= end) {
        double x = x_of(static_cast<double>(lock_at - first) / static_cast<double>(bucket));
        svg << "<line class=\"lock\" x1=\"" << number(x) << "\" x2=\"" << number(x) << "\" y1=\"" << top - 4
            << "\" y2=\"" << top + plot_h << "\"/>"
            << "<text class=\"locktext\" x=\"" << number(x + 5) << "\" y=\"" << top + 10 << "\">locked "
            << html(local_time(lock_at)) << "</text>\n";
    }
    // legend, right-aligned on the title's line
    std::size_t legend_width = 0;
    for (auto& b : bars) legend_width += 30 + b.name.size() * 7;
    if (line) legend_width += 30 + line->name.size() * 7;
    int lx = width - right - static_cast<int>(legend_width);
    auto legend = [&](const std::string& name, const std::string& color, bool is_line) {
        if (is_line)
            svg << "<line x1=\"" << lx << "\" x2=\"" << lx + 16 << "\" y1=\"16\" y2=\"16\" stroke=\"" << color
                << "\" stroke-width=\"3\"/>";
        else
            svg << "<rect x=\"" << lx << "\" y=\"9\" width=\"14\" height=\"12\" fill=\"" << color << "\"/>";
        svg << "<text class=\"axis\" x=\"" << lx + 20 << "\" y=\"20\">" << html(name) << "</text>\n";
        lx += 30 + static_cast<int>(name.size()) * 7;
    };
    for (auto& s : bars) legend(s.name, s.color, false);
    if (line) legend(line->name, line->color, true);
    svg << "</svg>";
    return svg.str();
}

std::string verdict_name(ag::Verdict v) {
    return std::string(ag::to_string(v == ag::Verdict::refuse_locked ? ag::Verdict::lock : v));
}

// "wide networks (/16)", or with providers (asn-db) what is counted then.
std::string wide_networks_text(const ag::Config& config) {
    std::string prefix = "/" + std::to_string(config.ipv4_wide_prefix);
    return config.asn_table ? "providers, else " + prefix : prefix;
}

void user_section(std::ostream& out, const ReportUser& r, const ag::Config& config) {
    const UserSummary& s = r.summary;
    std::string verdict = verdict_name(s.verdict);
    out << "<section class=\"user\">\n<h2>" << html(s.user) << " <span class=\"badge " << verdict << "\">"
        << verdict << "</span></h2>\n";
    if (s.locked_at) {
        out << "<p class=\"lockline\">Locked at <b>" << html(local_time(s.locked_at, true)) << "</b>: "
            << html(s.lock_reason) << ". ";
        if (r.has_windows) // from the logs: what happened, and what authguard would have done
            out << "The logs show what happened without authguard; with it, " << s.logins_refused << " of "
                << s.logins << " logins would have been refused, from the red line on.";
        else
            out << s.logins_refused << " attempts after the lock were refused.";
        out << "</p>\n";
    }
    else if (s.first_alert_at)
        out << "<p>First alert at <b>" << html(local_time(s.first_alert_at, true)) << "</b>: "
            << html(s.first_alert_reason) << ".</p>\n";

    // The lock's evidence: "<wide network>@<first seen>[<address>,...] ..."
    if (!s.lock_evidence.empty()) {
        out << "<p class=\"evidence\">The new networks that locked it:";
        std::string_view rest = s.lock_evidence;
        while (!rest.empty()) {
            auto space = rest.find(' ');
            std::string_view item = rest.substr(0, space);
            rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
            auto at = item.find('@'), open = item.find('[');
            if (at == std::string_view::npos || open == std::string_view::npos || open < at) continue;
            std::int64_t first = 0;
            for (char c : item.substr(at + 1, open - at - 1)) first = first * 10 + (c >= '0' && c <= '9' ? c - '0' : 0);
            std::string addresses(item.substr(open + 1, item.size() - open - 2));
            // named by its addresses (a provider's key alone, "AS17676", says nothing)
            ag::EvidenceNetwork network{std::string(item.substr(0, at)), first, {}};
            for (std::string_view list = addresses; !list.empty();) {
                auto comma = list.find(',');
                network.addresses.emplace_back(list.substr(0, comma));
                list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
            }
            std::replace(addresses.begin(), addresses.end(), ',', ' ');
            out << " <span class=\"net\"><b>" << html(ag::evidence_network_label(network, config)) << "</b> "
                << html(local_time(first).substr(11, 5)) << " (" << html(addresses) << ")</span>";
        }
        out << "</p>\n";
    }
    out << "<table class=\"figures\"><tr>";
    auto figure = [&](const std::string& label, const std::string& value) {
        out << "<td><div class=\"value\">" << html(value) << "</div><div class=\"label\">" << html(label)
            << "</div></td>";
    };
    figure("successful logins", std::to_string(s.logins));
    if (s.locked_at || s.logins_refused) figure("refused by authguard", std::to_string(s.logins_refused));
    figure("addresses", std::to_string(s.success_addresses));
    figure("wide networks (" + wide_networks_text(config) + ")", std::to_string(s.success_wide_networks));
    if (r.has_windows) figure("most addresses in an hour", std::to_string(s.max_addresses_1h));
    if (r.has_windows) figure("most in a day", std::to_string(s.max_addresses_24h));
    figure("failed logins", std::to_string(s.failures));
    if (r.has_messages) figure("messages sent", std::to_string(s.messages));
    if (r.has_messages) figure("recipients", std::to_string(s.recipients));
    out << "</tr></table>\n";
    out << "<p class=\"span\">Seen from " << html(local_time(s.first_seen)) << " to "
        << html(local_time(s.last_seen)) << ".</p>\n";

    // the series, in buckets of an hour (longer spans: 3, 6, 24 hours)
    std::int64_t span = std::max<std::int64_t>(hour, s.last_seen - s.first_seen);
    std::int64_t bucket = span <= 8 * 86400 ? hour : span <= 24 * 86400 ? 3 * hour : span <= 48 * 86400 ? 6 * hour : 24 * hour;
    std::int64_t first = bucket_start(s.first_seen, bucket);
    std::size_t n = static_cast<std::size_t>((bucket_start(s.last_seen, bucket) - first) / bucket + 1);
    Series fresh{"new addresses", "#2f6fb3", std::vector<double>(n)};
    Series failures{"failed logins", "#d0452f", std::vector<double>(n)};
    Series messages{"messages sent", "#3a9a4f", std::vector<double>(n)};
    Series total{"addresses so far", "#e08a00", std::vector<double>(n)};
    for (auto& [t, h] : r.hours) {
        auto i = static_cast<std::size_t>((bucket_start(t, bucket) - first) / bucket);
        if (i >= n) continue;
        fresh.values[i] += static_cast<double>(h.new_addresses);
        failures.values[i] += static_cast<double>(h.failures);
        messages.values[i] += static_cast<double>(h.messages);
    }
    double running = 0;
    for (std::size_t i = 0; i < n; ++i) total.values[i] = running += fresh.values[i];
    std::string per = bucket == hour ? "per hour" : "per " + std::to_string(bucket / hour) + " hours";
    out << "<figure>" << chart("New addresses " + per + ", and all addresses so far", first, bucket,
                               {fresh}, &total, s.locked_at)
        << "</figure>\n";
    std::vector<Series> activity{failures};
    if (r.has_messages) activity.insert(activity.begin(), messages);
    out << "<figure>"
        << chart(std::string(r.has_messages ? "Messages sent and failed logins " : "Failed logins ") + per,
                 first, bucket, activity, nullptr, s.locked_at)
        << "</figure>\n";

    // networks, then every address
    // A provider (asn-db) is named, and the address blocks it was seen in
    // are listed beside it: it may span many, and a block is what a
    // firewall rule or whois takes.
    struct Network {
        std::string name;
        std::set<std::string> prefixes;
        std::size_t addresses = 0;
        std::uint64_t logins = 0, failures = 0;
        std::int64_t first = 0;
    };
    std::map<std::string, Network> networks;
    bool providers = false;
    for (auto& a : r.addresses) {
        Network& w = networks[a.wide_network];
        if (w.name.empty()) w.name = ag::describe_network(a.wide_network, a.address, config);
        auto keys = ag::network_keys(a.address, config);
        if (keys.prefix != a.wide_network) {
            w.prefixes.insert(keys.prefix);
            providers = true;
        }
        ++w.addresses;
        w.logins += a.successes;
        w.failures += a.failures;
        if (w.first == 0 || a.first < w.first) w.first = a.first;
    }
    std::vector<Network> by_size;
    for (auto& [name, w] : networks) by_size.push_back(w);
    std::sort(by_size.begin(), by_size.end(), [](const Network& a, const Network& b) {
        if (a.addresses != b.addresses) return a.addresses > b.addresses;
        return a.first < b.first;
    });
    auto network_rows = [&](std::size_t from, std::size_t to) {
        out << "<table class=\"list\"><tr><th>wide network</th>" << (providers ? "<th>blocks</th>" : "")
            << "<th>addresses</th><th>logins</th><th>failures</th><th>first seen</th></tr>\n";
        for (std::size_t i = from; i < to; ++i) {
            const Network& w = by_size[i];
            out << "<tr><td>" << html(w.name) << "</td>";
            if (providers) {
                std::string blocks;
                std::size_t listed = 0;
                for (auto& prefix : w.prefixes) {
                    if (listed++ == 4) {
                        blocks += " and " + std::to_string(w.prefixes.size() - 4) + " more";
                        break;
                    }
                    blocks += (blocks.empty() ? "" : ", ") + prefix;
                }
                out << "<td>" << html(blocks) << "</td>";
            }
            out << "<td class=\"n\">" << w.addresses
                << "</td><td class=\"n\">" << w.logins << "</td><td class=\"n\">" << w.failures << "</td><td>"
                << html(local_time(w.first)) << "</td></tr>\n";
        }
        out << "</table>\n";
    };
    const std::size_t shown = std::min<std::size_t>(by_size.size(), 12);
    out << "<h3>" << (shown < by_size.size() ? "The busiest of " : "") << by_size.size()
        << " wide networks</h3>\n";
    network_rows(0, shown);
    if (shown < by_size.size()) {
        out << "<details><summary>the other " << by_size.size() - shown << "</summary>\n";
        network_rows(shown, by_size.size());
        out << "</details>\n";
    }
    std::size_t only_failing = 0;
    for (auto& a : r.addresses) only_failing += a.successes == 0;
    out << "<details" << (r.addresses.size() <= 40 ? " open" : "") << "><summary>" << r.addresses.size()
        << " addresses (" << r.addresses.size() - only_failing << " with logins, " << only_failing
        << " only failing), first seen first</summary>\n<table class=\"list\"><tr><th>address</th>"
           "<th>network</th><th>wide network</th><th>logins</th><th>failures</th><th>first seen</th>"
           "<th>last seen</th></tr>\n";
    for (auto& a : r.addresses) {
        bool after_lock = s.locked_at && a.first >= s.locked_at;
        out << "<tr" << (after_lock ? " class=\"after\"" : "") << "><td>" << html(a.address) << "</td><td>"
            << html(a.network) << "</td><td>" << html(ag::address_network_label(a.address, config))
            << "</td><td class=\"n\">" << a.successes
            << "</td><td class=\"n\">" << a.failures << "</td><td>" << html(local_time(a.first, true))
            << "</td><td>" << html(local_time(a.last, true)) << "</td></tr>\n";
    }
    out << "</table></details>\n</section>\n";
}

constexpr std::string_view style = R"css(
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d2330;
       margin: 24px auto; max-width: 1140px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 0 0 6px; }
h3 { font-size: 14px; margin: 14px 0 2px; }
.meta { color: #5a6372; margin: 0 0 18px; }
section.user { border: 1px solid #d6dbe3; border-radius: 8px; padding: 16px 18px; margin: 18px 0; }
.badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; color: #fff; vertical-align: middle;
         text-transform: uppercase; letter-spacing: .04em; }
.badge.lock { background: #c62d1f; } .badge.alert { background: #c98a00; }
.badge.tempfail { background: #8a5cc2; } .badge.allow { background: #5a8a5a; }
.lockline { color: #a02418; } .evidence { font-size: 12.5px; color: #3b4250; }
.evidence .net { white-space: nowrap; margin-right: 10px; }
table.figures td { padding: 4px 18px 4px 0; vertical-align: top; }
.figures .value { font-size: 22px; font-weight: 600; } .figures .label { color: #5a6372; font-size: 12px; }
.span { color: #5a6372; }
figure { margin: 10px 0; } svg.chart { width: 100%; height: auto; display: block; }
svg .ctitle { font-size: 14px; font-weight: 600; fill: #1d2330; }
svg .axis { font-size: 11px; fill: #5a6372; } svg .grid { stroke: #e6e9ef; } svg .tick, svg .frame { stroke: #9aa3b2; }
svg .lock { stroke: #c62d1f; stroke-width: 2; stroke-dasharray: 5 3; } svg .locktext { font-size: 12px; fill: #c62d1f; font-weight: 600; }
table.list { border-collapse: collapse; margin: 6px 0 10px; font-size: 12.5px; }
table.list th, table.list td { border-bottom: 1px solid #e6e9ef; padding: 3px 10px 3px 0; text-align: left; }
table.list td.n { text-align: right; } tr.after td { color: #a02418; }
table.overview { border-collapse: collapse; } table.overview th, table.overview td { padding: 4px 12px 4px 0;
  border-bottom: 1px solid #e6e9ef; text-align: left; } table.overview td.n { text-align: right; }
details summary { cursor: pointer; color: #2f6fb3; margin: 6px 0; }
.note { color: #5a6372; font-size: 12.5px; }
)css";

void write_html(std::ostream& out, const std::string& source, const std::vector<ReportUser>& users,
                const std::string& note, const ag::Config& config) {
    std::int64_t from = 0, to = 0;
    for (auto& r : users) {
        if (from == 0 || (r.summary.first_seen && r.summary.first_seen < from)) from = r.summary.first_seen;
        to = std::max(to, r.summary.last_seen);
    }
    out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<title>authguard report: "
        << users.size() << (users.size() == 1 ? " account" : " accounts") << "</title>\n<style>" << style
        << "</style></head><body>\n";
    out << "<h1>authguard report: " << users.size() << (users.size() == 1 ? " account" : " accounts")
        << " flagged</h1>\n<p class=\"meta\">" << html(source) << ". ";
    if (from) out << "From " << html(local_time(from)) << " to " << html(local_time(to)) << ". ";
    out << "Made " << html(local_time(static_cast<std::int64_t>(std::time(nullptr)))) << ".</p>\n";
    if (users.empty()) out << "<p>Nothing was flagged.</p>\n";
    if (users.size() > 1) {
        out << "<table class=\"overview\"><tr><th>account</th><th>verdict</th><th>locked at</th>"
               "<th>logins</th><th>addresses</th><th>wide networks</th><th>failures</th><th>messages</th></tr>\n";
        for (auto& r : users) {
            const UserSummary& s = r.summary;
            out << "<tr><td>" << html(s.user) << "</td><td>" << verdict_name(s.verdict) << "</td><td>"
                << html(local_time(s.locked_at)) << "</td><td class=\"n\">" << s.logins << "</td><td class=\"n\">"
                << s.success_addresses << "</td><td class=\"n\">" << s.success_wide_networks
                << "</td><td class=\"n\">" << s.failures << "</td><td class=\"n\">"
                << (r.has_messages ? std::to_string(s.messages) : std::string("-")) << "</td></tr>\n";
        }
        out << "</table>\n";
    }
    for (auto& r : users) user_section(out, r, config);
    std::string net = "/" + std::to_string(config.ipv4_net_prefix),
                wide = "/" + std::to_string(config.ipv4_wide_prefix);
    out << "<p class=\"note\">" << html(note)
        << (config.asn_table ? " Networks: " + net + " for IPv4; wide networks are providers (autonomous "
                                                     "systems, from asn-db), else the " + wide + " (as configured)."
                             : " Networks: " + net + " and wide " + wide + " for IPv4 (as configured).")
        << " Times are the server's local time."
           " A new address is one the account had not logged in from before in this report's data."
           "</p>\n</body></html>\n";
}

// Writes the file whole or not at all.
void write_file(const std::string& path, const std::string& text) {
    std::string tmp = path + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f << text;
        f.flush();
        if (!f) {
            std::remove(tmp.c_str());
            throw std::runtime_error("cannot write " + tmp);
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        throw std::runtime_error("cannot rename " + tmp + " to " + path);
    }
}

std::vector<ReportUser> from_logs(Context& ctx, std::vector<std::string>& flagged_out) {
    ScanOptions options = scan_options(ctx);
    std::vector<std::string> paths = input_paths(ctx);
    for (auto& p : paths)
        if (p == "-") throw UsageError("report --scan reads its files twice: standard input (-) cannot be used");
    bool everyone = ctx.options["all"].as<bool>();
    std::set<std::string> wanted;
    {
        LogScan first(ctx.config(), options);
        first.add_inputs(paths);
        std::cerr << "authguardctl: report: " << summary_text(first.totals()) << "\n";
        for (auto& e : first.totals().errors) std::cerr << "authguardctl: " << esc(e) << "\n";
        if (!first.totals().errors.empty()) throw std::runtime_error("cannot read every input");
        for (auto& s : first.users())
            if (everyone || !options.only_users.empty() || s.verdict != ag::Verdict::allow) wanted.insert(s.user);
    }
    std::vector<ReportUser> out;
    if (wanted.empty()) return out;
    options.only_users = wanted;
    options.timeline_users = wanted;
    LogScan second(ctx.config(), options);
    second.add_inputs(paths);
    for (auto& s : second.users()) {
        ReportUser r;
        r.summary = s;
        r.addresses = second.addresses(s.user);
        r.hours = second.timeline(s.user);
        out.push_back(std::move(r));
        flagged_out.push_back(s.user);
    }
    return out;
}

std::vector<ReportUser> from_store(Context& ctx) {
    const ag::Config& config = ctx.config();
    ag::Store& store = ctx.store();
    std::int64_t now = ctx.now();
    std::vector<std::string> names;
    if (!ctx.args.empty()) {
        for (std::size_t i = 0; i < ctx.args.size(); ++i) names.push_back(ctx.user_arg(i));
    } else {
        for (auto& user : store.users())
            if (store.load(user).lock) names.push_back(user);
    }
    std::vector<ReportUser> out;
    for (auto& name : names) {
        ag::History h = store.load(name);
        if (h.observations.empty() && !h.lock) throw NotFound("nothing stored for user '" + name + "'");
        ReportUser r;
        r.has_messages = false;
        r.has_windows = false;
        UserSummary& s = r.summary;
        s.user = name;
        std::set<std::string> nets, wides;
        std::map<std::string, AddressSummary> by_address;
        for (auto& o : h.observations) {
            auto keys = ag::network_keys(o.address, config);
            AddressSummary& a = by_address[o.address];
            a.address = o.address;
            a.network = keys.net;
            a.wide_network = keys.wide;
            a.first = a.first ? std::min(a.first, o.first) : o.first;
            a.last = std::max(a.last, o.last);
            if (s.first_seen == 0 || o.first < s.first_seen) s.first_seen = o.first;
            s.last_seen = std::max(s.last_seen, o.last);
            if (o.kind == ag::Observation::Kind::success) {
                a.successes += static_cast<std::uint64_t>(o.count);
                a.first_success = o.first;
                s.logins += static_cast<std::uint64_t>(o.count);
                ++s.success_addresses;
                nets.insert(keys.net);
                wides.insert(keys.wide);
                ++r.hours[o.first - ((o.first % hour) + hour) % hour].new_addresses;
            } else {
                a.failures += static_cast<std::uint64_t>(o.count);
                s.failures += static_cast<std::uint64_t>(o.count);
                ++s.failing_addresses;
                r.hours[o.last - ((o.last % hour) + hour) % hour].failures += static_cast<std::uint64_t>(o.count);
            }
        }
        s.success_networks = static_cast<std::int64_t>(nets.size());
        s.success_wide_networks = static_cast<std::int64_t>(wides.size());
        if (h.lock) {
            s.verdict = h.lock->active(now) ? ag::Verdict::lock : ag::Verdict::allow;
            s.locked_at = h.lock->since;
            s.lock_reason = h.lock->reason;
            s.lock_evidence = h.lock->evidence;
            s.logins_refused = static_cast<std::uint64_t>(h.lock->attempts_after);
            if (s.first_seen == 0 || s.locked_at < s.first_seen) s.first_seen = s.locked_at;
            s.last_seen = std::max(s.last_seen, std::max(h.lock->last_attempt, s.locked_at));
        }
        for (auto& [address, a] : by_address) r.addresses.push_back(a);
        std::sort(r.addresses.begin(), r.addresses.end(),
                  [](const AddressSummary& a, const AddressSummary& b) { return a.first < b.first; });
        out.push_back(std::move(r));
    }
    return out;
}

} // namespace

void add_report_options(po::options_description& d) {
    d.add_options()("html", po::value<std::string>()->value_name("OUT.html"),
                    "write the report to this file (required)")(
        "scan", po::bool_switch(), "the arguments are mail logs (else: users in the store)")(
        "all", po::bool_switch(), "with --scan: every user, not only the flagged ones");
    add_scan_options(d);
}

int cmd_report(Context& ctx) {
    if (!ctx.options.count("html")) throw UsageError("report wants --html OUT.html");
    std::string path = ctx.options["html"].as<std::string>();
    if (path.empty()) throw UsageError("--html wants a file name");
    bool scan = ctx.options["scan"].as<bool>();
    if (scan && ctx.args.empty()) throw UsageError("report --scan wants FILE...");
    std::vector<ReportUser> users;
    std::string source, note;
    std::vector<std::string> names;
    if (scan) {
        users = from_logs(ctx, names);
        source = "From the mail logs ";
        for (std::size_t i = 0; i < ctx.args.size(); ++i) source += (i ? ", " : "") + ctx.args[i];
        note = "Verdicts are the detector's with the current control files, replayed over the logs.";
    } else {
        users = from_store(ctx);
        for (auto& u : users) names.push_back(u.summary.user);
        source = "From authguard's store";
        note = "The store keeps the addresses of the last known-period (at most max-entries per account) "
               "and no messages; a report from the mail logs (--scan) shows more.";
    }
    std::ostringstream text;
    write_html(text, source, users, note, ctx.config());
    write_file(path, text.str());
    if (ctx.json) {
        Json j;
        j.begin_object().key("file").value(path).key("users").begin_array();
        for (auto& n : names) j.value(n);
        j.end_array().end_object();
        print_json(j);
    } else {
        std::cout << "wrote " << esc(path) << ": " << users.size()
                  << (users.size() == 1 ? " account" : " accounts");
        for (auto& n : names) std::cout << " " << esc(n);
        std::cout << "\n";
    }
    return exit_ok;
}

} // namespace authguardctl
