// ctl.hpp - what the parts of authguardctl share: the parsed command line,
// the exit codes, the errors that map to them, and the output helpers
// (escaped tables for people, one JSON document for programs).
#pragma once

#include "authguard/config.hpp"
#include "authguard/json.hpp"
#include "authguard/store.hpp"

#include <boost/program_options.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace authguardctl {

namespace po = boost::program_options;

// The exit codes, as documented in --help and authguardctl(8).
inline constexpr int exit_ok = 0;
inline constexpr int exit_not_found = 1; // unknown user, not locked, already locked
inline constexpr int exit_usage = 2;
inline constexpr int exit_config = 3;
inline constexpr int exit_store = 4;
inline constexpr int exit_other = 5; // cannot write the output, out of memory, ...

// Thrown for a bad command line; main() prints it and exits 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Thrown when there is nothing to show or do; main() prints it and exits 1.
struct NotFound : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// One parsed invocation.
struct Context {
    std::string command;
    std::filesystem::path control_dir;
    bool json = false;
    std::vector<std::string> args; // the command's positional arguments
    po::variables_map options;     // the command's own options

    // Loaded on first use.
    const authguard::Config& config();
    authguard::Store& store();
    // The clock the hooks would use: $AUTHGUARD_NOW, else the store's (or
    // the local one with "clock = local").
    std::int64_t now();
    // A user name from the command line, normalised as the hooks do.
    std::string user_arg(std::size_t index);

  private:
    std::unique_ptr<authguard::Config> config_;
    std::unique_ptr<authguard::Store> store_;
};

// The commands; each returns an exit code or throws.
int cmd_show(Context& ctx);
int cmd_locks(Context& ctx);
int cmd_unlock(Context& ctx);
int cmd_lock(Context& ctx);
int cmd_top(Context& ctx);
int cmd_stats(Context& ctx);
int cmd_check_config(Context& ctx);
// The mail log commands (scan_command.cpp, report.cpp, follow.cpp).
int cmd_scan(Context& ctx);
int cmd_report(Context& ctx);
int cmd_follow(Context& ctx);
// Moving state between stores, and the LMDB store's gc (transfer.cpp).
int cmd_export(Context& ctx);
int cmd_import(Context& ctx);
int cmd_gc(Context& ctx);
// The IP-to-AS table: build, lookup, info (asn_command.cpp).
int cmd_asn_db(Context& ctx);
// DKIM keys: keygen, check (dkim_command.cpp).
int cmd_dkim(Context& ctx);
void add_dkim_options(po::options_description& d);

// --- output helpers (output.cpp) ---

// Hostile bytes made printable for a table: authguard::escape_for_log
// without its length limit.
std::string esc(std::string_view bytes);

// "2024-05-01T12:00:00Z"; "-" for 0.
std::string utc(std::int64_t unix_seconds);

// 3600 -> "1h", 90 -> "90s", 86400 -> "1d".
std::string duration_text(std::int64_t seconds);

// Left-aligns `text` in a column of `width` (never truncates).
std::string pad(std::string_view text, std::size_t width);
// Right-aligns.
std::string rpad(std::string_view text, std::size_t width);

// A JSON string literal for arbitrary bytes (authguard::json::quote: valid
// UTF-8 kept, any other byte as \u00XX, so the document always parses).
inline std::string json_string(std::string_view bytes) {
    return authguard::json::quote(bytes);
}

// Builds one JSON document; commas are placed automatically.
class Json {
  public:
    Json& begin_object();
    Json& end_object();
    Json& begin_array();
    Json& end_array();
    Json& key(std::string_view name);
    Json& value(std::string_view text);
    Json& value(const char* text) { return value(std::string_view(text)); }
    Json& value(const std::string& text) { return value(std::string_view(text)); }
    Json& value(std::int64_t number);
    Json& value(int number) { return value(static_cast<std::int64_t>(number)); }
    Json& value(bool flag);
    Json& null();
    // A unix time as a number and, under key+"_utc", as text (null for 0).
    Json& time(std::string_view name, std::int64_t unix_seconds);
    const std::string& text() const { return out_; }

  private:
    void separate();
    std::string out_;
    std::vector<bool> first_; // per open container: nothing written yet
    bool after_key_ = false;
};

// Writes the finished document on one line.
void print_json(const Json& json);

// The reader of standard output went away (`authguardctl ... | head`): a
// normal end, not an error. watch_output() makes a write to a closed pipe
// fail with EPIPE instead of killing the process (main calls it).
void watch_output();
bool output_closed();

} // namespace authguardctl
