// logs_cli.hpp - what the log commands of authguardctl (scan, report,
// follow) share on the command line: options, inputs, the summary line.
#pragma once

#include "ctl.hpp"
#include "scan.hpp"

#include <string>
#include <vector>

namespace authguardctl {

// --user, --since, --until, --year
void add_scan_options(po::options_description& d);
ScanOptions scan_options(Context& ctx);
// The positional FILE arguments, rotated files oldest first.
std::vector<std::string> input_paths(const Context& ctx);
// "2 inputs, 1234 lines: 456 used (...), ... skipped (3 unknown-format)"
std::string summary_text(const ScanTotals& totals);
// report's options: --html, --scan, --all and the scan options.
void add_report_options(po::options_description& d);
// follow's options: --state, --from-start, --once, --interval, --services.
void add_follow_options(po::options_description& d);
// One user's scan result as a JSON object.
void user_json(Json& j, const UserSummary& s);

} // namespace authguardctl
