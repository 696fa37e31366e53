// authguardctl - the administrator's tool for authguard's per-user state:
//
//   authguardctl [--control DIR] [--json] COMMAND [ARGS]
//
// This file reads the command line (Boost.Program_options), prints the help
// texts, runs the command and turns errors into the documented exit codes:
// 0 ok, 1 not found / nothing to do, 2 usage, 3 configuration, 4 store
// unreachable, 5 anything else. The commands themselves are in commands.cpp.
#include "ctl.hpp"
#include "logs_cli.hpp"

#include "authguard/event.hpp"
#include "authguard/guard.hpp"
#include "authguard/version.hpp"

#include <cstring>
#include <iostream>
#include <set>

namespace authguardctl {

namespace {

constexpr std::string_view exit_codes_text =
    "Exit codes:\n"
    "  0  ok\n"
    "  1  not found or nothing to do (unknown user, user not locked, already locked,\n"
    "     an address without a provider)\n"
    "  2  usage error\n"
    "  3  configuration error (the control files)\n"
    "  4  store unreachable (Redis down, refused, timed out; LMDB directory not writable)\n"
    "  5  any other failure (cannot write the output, out of memory)\n";

constexpr std::string_view output_text =
    "Output: tables for people, with every byte that is not printable ASCII (and\n"
    "the backslash) shown as \\xNN. With --json every command prints exactly one\n"
    "JSON document, an object, on one line, except scan and export (one object\n"
    "per user, one per line; export always) and follow (text lines); see\n"
    "authguardctl(8) for the fields.\n"
    "Errors go to stderr as \"authguardctl: ...\".\n";

struct CommandSpec {
    const char* name;
    const char* synopsis;
    const char* summary;
    const char* details;
    std::vector<const char*> positionals;
    void (*add_options)(po::options_description&);
    int (*run)(Context&);
    bool repeat_last = false;   // the last positional may be given more than once
    bool args_optional = false; // the positionals may be left out altogether
};

void no_options(po::options_description&) {}

const std::vector<CommandSpec>& commands() {
    static const std::vector<CommandSpec> specs{
        {"show",
         "show USER",
         "a user's observations, window counts and lock",
         "Prints every stored observation of USER (successes and failures, with\n"
         "first and last seen in UTC, count, network and wide network), the counts\n"
         "the detector sees in the short and long windows at the current clock, the\n"
         "thresholds that apply to USER, and the lock: reason, evidence, since,\n"
         "until, attempts after the lock. Exit 1 when nothing is stored for USER.",
         {"USER"},
         no_options,
         cmd_show},
        {"locks",
         "locks",
         "every locked user",
         "Lists every stored lock, active or expired (lock-expiry), with its\n"
         "reason, since, until and the attempts made after it. An empty list is\n"
         "not an error.",
         {},
         no_options,
         cmd_locks},
        {"unlock",
         "unlock USER [--keep-history]",
         "remove a lock and forget the attack",
         "Removes USER's lock. Unless --keep-history is given, it first forgets the\n"
         "successful logins in the networks the lock's evidence names as new, so the\n"
         "attacker's networks never count as networks USER is known to use; USER's\n"
         "own networks stay known. A manual lock names none: nothing is forgotten.\n"
         "Failures are kept. The unlock is logged (syslog mail, and log-file).\n"
         "Exit 1 when USER is not locked.",
         {"USER"},
         [](po::options_description& d) {
             d.add_options()("keep-history", po::bool_switch(),
                             "forget nothing, only remove the lock");
         },
         cmd_unlock},
        {"lock",
         "lock USER --reason TEXT [--for DURATION]",
         "lock an account by hand",
         "Locks USER as the detector would (evidence \"manual\"), starting now, until\n"
         "unlocked or for DURATION (90s, 15m, 1h, 30d). Every login of USER is then\n"
         "refused. The configured notify-command and notify-mail are told, as for an\n"
         "automatic lock, and the lock is logged. Exit 1 when USER is already locked.\n"
         "A user listed in control/authguard-allow is never checked, so a lock on\n"
         "one has no effect (a warning says so).",
         {"USER"},
         [](po::options_description& d) {
             d.add_options()("reason", po::value<std::string>()->value_name("TEXT"),
                             "why (required; shown by show, locks and the notification)")(
                 "for", po::value<std::string>()->value_name("DURATION"),
                 "lock only this long (default: until unlocked)");
         },
         cmd_lock},
        {"top",
         "top [--limit N] [--window DURATION]",
         "users by networks in the long window",
         "Lists the users with the most distinct wide networks (IPv4 /16, IPv6 /28\n"
         "by default) with successful logins within the window (window-long, 24h by\n"
         "default), with their networks, addresses, new and failing networks and\n"
         "lock state. Users without any login in the window are left out.",
         {},
         [](po::options_description& d) {
             d.add_options()("limit", po::value<int>()->default_value(20)->value_name("N"),
                             "show at most N users (0: all)")(
                 "window", po::value<std::string>()->value_name("DURATION"),
                 "count over this window (default: window-long)");
         },
         cmd_top},
        {"stats",
         "stats",
         "totals of the store",
         "Prints the number of users, locks and observations in the store and the\n"
         "memory authguard's keys use.",
         {},
         no_options,
         cmd_stats},
        {"check-config",
         "check-config",
         "validate the control files",
         "Loads control/authguard and control/authguard-allow as the hooks do. Prints\n"
         "\"ok\" and every setting in effect and the thresholds (secrets are not shown),\n"
         "or the error as FILE:LINE: REASON, with what the hooks run on meanwhile (the\n"
         "last valid configuration, or the defaults), and exits 3. Then checks that\n"
         "next-queue is executable, that the store can be reached and authenticated\n"
         "(Redis: AUTH, SELECT, TIME; LMDB: opened when it exists), and that the\n"
         "state directory is writable by the hooks' user ($AUTHGUARD_USER, default\n"
         "vpopmail): errors on stderr, \"not ok\" first, exit 3 (4: the store).",
         {},
         no_options,
         cmd_check_config},
        {"scan",
         "scan FILE... [--user USER] [--since TIME] [--until TIME] [--year YEAR] [--threads N]",
         "every user of a mail log, with the detector's verdict",
         "Reads mail logs (\"-\" for standard input; gzip-compressed files too; rotated\n"
         "files such as maillog.2.gz maillog.1 maillog are read oldest first) and\n"
         "prints, per user who logged in: successful logins, distinct addresses,\n"
         "networks (/24) and wide networks (providers with asn-db, else /16), the\n"
         "most distinct addresses and wide networks in any sliding hour and day,\n"
         "failures and failing addresses, messages and recipients the user sent\n"
         "(qmail-send's lines), and the verdict the detector would have reached\n"
         "with the current control files, with the time it would have locked.\n"
         "Nothing is written to the store.\n"
         "\n"
         "Lines: vchkpw (login success, password fail, user not found, access\n"
         "denied), authguard's own decision lines, qmail-smtpd's Accept::AUTH and\n"
         "Reject::AUTH (Hoffmann's AUTH logging), Dovecot logins and auth failures,\n"
         "Postfix smtpd's SASL logins and failures (client=..., sasl_username=U),\n"
         "qmail-send's info msg / starting delivery / end msg. A login logged twice\n"
         "(by vchkpw and by authguard-checkpw) counts once. Formats: syslog (the\n"
         "year told by the file's time or --year), RFC 3339 syslog, multilog\n"
         "@TAI64N. Syslog times are local: set TZ to the server's time zone.\n"
         "\n"
         "A summary goes to stderr: lines read, used, ignored, and skipped by reason\n"
         "(unknown-format, malformed, bad-address, bad-user, invalid-utf8, too-long,\n"
         "unterminated). With --json one object per user, one per line.\n"
         "When this process may run on two CPUs or more (see taskset), one thread\n"
         "reads the logs while another counts, each line parsed by the less busy\n"
         "one; --threads 1 does all in one (more than 2 is 2). The output is the\n"
         "same to the byte.\n"
         "Exit 1 when --user is given and has no logins; 5 when an input cannot be\n"
         "read (the others are still scanned).",
         {"FILE"},
         add_scan_options,
         cmd_scan,
         true},
        {"report",
         "report --html OUT [--scan] FILE|USER...",
         "the incident as one HTML page with charts",
         "Writes one self-contained HTML file (inline SVG and CSS, nothing fetched:\n"
         "it can be mailed) that shows, for each flagged account, new addresses per\n"
         "hour with the running total, failed logins and messages sent per hour, the\n"
         "moment of the lock, and the wide networks and addresses with their counts.\n"
         "\n"
         "With --scan the arguments are mail logs, read as scan reads them (twice:\n"
         "standard input cannot be used); the accounts shown are those scan flags\n"
         "(verdict other than allow), or those given with --user, or with --all\n"
         "every account. Without --scan the arguments are users in the store\n"
         "(default: every locked user); the store keeps no messages and at most\n"
         "max-entries addresses per user. The file is written whole or not at all.",
         {"FILE|USER"},
         add_report_options,
         cmd_report,
         true,
         true},
        {"follow",
         "follow FILE... [--state FILE] [--once] [--no-messages]",
         "feed live mail logs into the store",
         "Follows mail logs as tail -F does and passes every login line (vchkpw,\n"
         "qmail-smtpd AUTH, Dovecot) to the detector with the time from the log:\n"
         "the same verdicts, locks and notifications as authguard-checkpw, for a\n"
         "server whose AUTH chain does not run it yet. authguard's own decision\n"
         "lines are skipped (the hooks counted those logins); with --services,\n"
         "logins of other services are too. qmail-send's messages from users who\n"
         "logged in within the hour before, and their recipients, go into the\n"
         "sending limits as authguard-queue counts them (not with --no-messages:\n"
         "give it where authguard-queue or authguard-spp counts them already).\n"
         "\n"
         "A file renamed away (rotation) is read to its end, then the new one from\n"
         "its start; a truncated file is read again from its start. The position\n"
         "in each file is kept in the state file (--state, else follow-state in\n"
         "control/authguard), so a restart goes on where the last run stopped,\n"
         "also after a rotation meanwhile (the rotated file is found by its\n"
         "inode). Every event is counted once, also after kill -9: the store\n"
         "keeps a mark of the last event each follower fed per user. A new file\n"
         "starts at its end, or its start with --from-start. When the store fails,\n"
         "the line is tried again with back-off (up to 30 s) and not passed over.\n"
         "Locks, alerts and sending-limit verdicts are printed on stdout. SIGTERM\n"
         "stops it after the current line.",
         {"FILE"},
         add_follow_options,
         cmd_follow,
         true},
        {"export",
         "export [USER...]",
         "every user's state as JSON lines (to move it to another store)",
         "Prints one JSON object per line for each user in the store (or each USER\n"
         "given): observations, dropped count, lock with every field, message\n"
         "buckets, and the seconds each key has left. `authguardctl import` reads it\n"
         "back into any store: from Redis to the embedded LMDB store and back, or\n"
         "between hosts. Session bindings and relay counts are not exported.\n"
         "Exit 1 when USERs are given and none has anything stored.",
         {"USER"},
         no_options,
         cmd_export,
         true,
         true},
        {"import",
         "import [FILE]",
         "read what export wrote into this store",
         "Reads export's JSON lines from FILE (default, or \"-\": standard input) and\n"
         "writes each user's state in place of what this store has for the user,\n"
         "keeping each key's remaining lifetime. Every line is checked first; a bad\n"
         "line (reported as FILE:LINE, exit 2) changes nothing.",
         {"FILE"},
         no_options,
         cmd_import,
         false,
         true},
        {"gc",
         "gc",
         "remove expired keys from the embedded store",
         "The LMDB store deletes an expired key when a login touches it; gc deletes\n"
         "all of them (of every key prefix) in short transactions, and clears\n"
         "reader slots left by killed processes. Run it daily from cron as the\n"
         "user the hooks run as (or as root: the files keep their owner). With\n"
         "Redis, which expires keys itself, there is nothing to do.",
         {},
         no_options,
         cmd_gc},
        {"asn-db",
         "asn-db build|lookup|info ARG...",
         "the IP-to-AS table: build, look up, describe",
         "The table tells the provider (autonomous system) of an address, so that\n"
         "a phone's carrier counts as one network however many /16s it hops through.\n"
         "\n"
         "asn-db build OUT INPUT...\n"
         "  Writes authguard's own table to OUT from downloaded tables: ip-location-db\n"
         "  asn-ipv4.csv, asn-ipv6.csv and their -num.csv forms; iptoasn\n"
         "  ip2asn-v4.tsv, ip2asn-v6.tsv, ip2asn-combined.tsv, ip2asn-v4-u32.tsv;\n"
         "  plain or gzip-compressed, told by their first line. AS 0 (not routed)\n"
         "  is dropped; where ranges overlap the narrower wins, between equal ones\n"
         "  the input given first. A bad line stops the build as FILE:LINE: REASON\n"
         "  (exit 5) and OUT is left as it was; the new table replaces OUT at once\n"
         "  (renamed into place), so the hooks never read half of it.\n"
         "asn-db lookup DB ADDRESS...\n"
         "  Prints \"ADDRESS AS17676 SoftBank Corp.\" per address, or \"ADDRESS -\"\n"
         "  when the table has no provider for it (then exit 1).\n"
         "asn-db info DB\n"
         "  The table's format (authguard, or mmdb for a MaxMind DB such as\n"
         "  GeoLite2-ASN), build time and counts.\n"
         "\n"
         "DB is an own table or a MaxMind DB, told by its contents. A table that\n"
         "cannot be read exits 5.",
         {"build|lookup|info"}, // asn_command.cpp checks each one's own arguments
         no_options,
         cmd_asn_db,
         true},
        {"dkim",
         "dkim keygen|check DOMAIN",
         "make a DKIM key and its DNS record; check the published record",
         "dkim keygen DOMAIN [--selector S] [--type rsa|ed25519] [--bits N] [--force]\n"
         "    [--group G]\n"
         "  Makes a private key (rsa of --bits, default 2048, or ed25519) as\n"
         "  CONTROL/domainkeys/DOMAIN/S (default S: \"default\"; IndiMail's layout,\n"
         "  PEM PKCS#8, mode 0640, the directory 0750, the group --group or else that\n"
         "  of control/authguard), written atomically, and the record beside it as\n"
         "  S.pub. Prints the DNS line to publish:\n"
         "  S._domainkey.DOMAIN. IN TXT ( \"v=DKIM1; k=rsa; \" \"p=...\" )\n"
         "  An existing key is kept (exit 1) unless --force.\n"
         "dkim check DOMAIN [--selector S]\n"
         "  Looks up S._domainkey.DOMAIN TXT for each key authguard-dkim would sign\n"
         "  DOMAIN's mail with (control/dkimkeys, $DKIMSIGN, $DKIMKEY, then\n"
         "  control/domainkeys/DOMAIN/) and prints per key \"ok\", \"not published\",\n"
         "  \"DNS error: ...\", or what differs. Exit 0 only when every key matches.",
         {"keygen|check", "DOMAIN"},
         add_dkim_options,
         cmd_dkim},
    };
    return specs;
}

const CommandSpec* find_command(std::string_view name) {
    for (auto& c : commands())
        if (name == c.name) return &c;
    return nullptr;
}

po::options_description common_options() {
    std::string control_help = "the control directory (default: $AUTHGUARD_CONTROL, else "
                               "$QMAILHOME/control, else /var/qmail/control; here " +
                               authguard::default_control_dir().string() + ")";
    po::options_description d("Options of every command");
    auto add = d.add_options();
    add("control", po::value<std::string>()->value_name("DIR"), control_help.c_str());
    add("json", po::bool_switch(), "print one JSON document instead of a table");
    add("help,h", po::bool_switch(), "print help and exit");
    return d;
}

po::options_description command_options(const CommandSpec& spec) {
    po::options_description d(std::string("Options of ") + spec.name);
    spec.add_options(d);
    return d;
}

void print_tool_help(std::ostream& out) {
    out << "usage: authguardctl [--control DIR] [--json] COMMAND [ARGS]\n"
           "       authguardctl --version\n"
           "       authguardctl COMMAND --help\n\n"
           "Shows and manages what authguard stores per user (in the embedded LMDB store\n"
           "or in Redis, as control/authguard says): the networks each SMTP-AUTH user\n"
           "logged in from, and the locks of hijacked accounts.\n"
           "User names are normalised as the hooks do (lower-cased by default).\n"
           "Counts and lock states are taken at the hooks' clock: $AUTHGUARD_NOW when\n"
           "set (tests, replays), else the store's (Redis TIME; LMDB: local), or the local clock\n"
           "with \"clock = local\" in control/authguard.\n\n"
           "Commands:\n";
    for (auto& c : commands())
        out << "  " << pad(c.synopsis, 42) << " " << c.summary << "\n";
    out << "  " << pad("help [COMMAND]", 42) << " this text, or a command's\n\n";
    out << common_options() << "\n" << output_text << "\n" << exit_codes_text;
}

void print_command_help(const CommandSpec& spec, std::ostream& out) {
    out << "usage: authguardctl [--control DIR] [--json] " << spec.synopsis << "\n\n"
        << spec.details << "\n\n";
    auto own = command_options(spec);
    if (!own.options().empty()) out << own << "\n";
    out << common_options() << "\n" << exit_codes_text;
}

// Finds the command word: the first argument that is neither an option nor
// an option's value. Knowing which options take a value lets options come
// before the command as well as after it.
std::optional<std::size_t> command_position(const std::vector<std::string>& tokens) {
    std::set<std::string> with_value;
    auto collect = [&](const po::options_description& d) {
        for (auto& o : d.options())
            if (o->semantic()->max_tokens() > 0) with_value.insert(o->long_name());
    };
    collect(common_options());
    for (auto& c : commands())
        collect(command_options(c));
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        const std::string& t = tokens[i];
        if (t == "--") return i + 1 < tokens.size() ? std::optional(i + 1) : std::nullopt;
        if (t.rfind("--", 0) == 0) {
            if (t.find('=') == std::string::npos && with_value.count(t.substr(2))) ++i;
            continue;
        }
        if (t.size() > 1 && t[0] == '-') continue;
        return i;
    }
    return std::nullopt;
}

int run(int argc, char** argv) {
    std::vector<std::string> tokens(argv + 1, argv + argc);
    auto at = command_position(tokens);
    std::string name;
    if (at) {
        name = tokens[*at];
        tokens.erase(tokens.begin() + static_cast<std::ptrdiff_t>(*at));
    }

    bool help_command = name == "help";
    const CommandSpec* spec = nullptr;
    if (!name.empty() && !help_command) {
        spec = find_command(name);
        if (!spec)
            throw UsageError("unknown command '" + name + "' (authguardctl --help lists them)");
    }

    po::options_description visible = common_options();
    if (spec) visible.add(command_options(*spec));
    po::options_description all;
    all.add(visible);
    all.add_options()("args", po::value<std::vector<std::string>>());
    po::positional_options_description positional;
    positional.add("args", -1);

    Context ctx;
    int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(
        po::command_line_parser(tokens).options(all).positional(positional).style(style).run(),
        ctx.options);
    po::notify(ctx.options);
    if (ctx.options.count("args")) ctx.args = ctx.options["args"].as<std::vector<std::string>>();

    if (help_command) {
        if (ctx.args.size() > 1) throw UsageError("help wants at most one command");
        if (ctx.args.empty()) {
            print_tool_help(std::cout);
        } else if (auto* c = find_command(ctx.args[0])) {
            print_command_help(*c, std::cout);
        } else {
            throw UsageError("unknown command '" + ctx.args[0] + "'");
        }
        return exit_ok;
    }
    if (ctx.options["help"].as<bool>()) {
        if (spec)
            print_command_help(*spec, std::cout);
        else
            print_tool_help(std::cout);
        return exit_ok;
    }
    if (!spec) throw UsageError("no command given (authguardctl --help lists them)");

    bool count_ok = ctx.args.size() == spec->positionals.size() ||
                    (spec->repeat_last && ctx.args.size() > spec->positionals.size()) ||
                    (spec->args_optional && ctx.args.empty());
    if (!count_ok) {
        if (ctx.args.size() < spec->positionals.size())
            throw UsageError(std::string(spec->name) + " wants " +
                             spec->positionals[ctx.args.size()] + " (usage: authguardctl " +
                             spec->synopsis + ")");
        throw UsageError("unexpected argument '" + ctx.args[spec->positionals.size()] +
                         "' (usage: authguardctl " + spec->synopsis + ")");
    }
    ctx.command = spec->name;
    ctx.json = ctx.options["json"].as<bool>();
    ctx.control_dir = ctx.options.count("control")
                          ? std::filesystem::path(ctx.options["control"].as<std::string>())
                          : authguard::default_control_dir();
    if (ctx.control_dir.empty()) throw UsageError("--control wants a directory");
    // Absolute once, here: every path printed (lmdb_path, follow-state) is then absolute.
    ctx.control_dir = std::filesystem::absolute(ctx.control_dir).lexically_normal();
    if (!ctx.control_dir.has_filename()) ctx.control_dir = ctx.control_dir.parent_path(); // "dir/"
    return spec->run(ctx);
}

int fail(int code, std::string_view message) {
    std::cout.flush();
    // Messages may quote the command line, the control files or the store:
    // escaped like everything else this tool prints.
    std::cerr << "authguardctl: " << esc(message) << "\n";
    return code;
}

} // namespace

} // namespace authguardctl

int main(int argc, char** argv) {
    if (authguard::version_asked(argc, argv)) return authguard::print_version("authguardctl");
    using namespace authguardctl;
    int code = exit_ok;
    watch_output();
    try {
        code = run(argc, argv);
    } catch (const UsageError& e) {
        return fail(exit_usage, e.what());
    } catch (const po::error& e) {
        return fail(exit_usage, std::string(e.what()) + " (authguardctl --help for usage)");
    } catch (const NotFound& e) {
        return fail(exit_not_found, e.what());
    } catch (const authguard::ConfigError& e) {
        return fail(exit_config, e.what());
    } catch (const authguard::StoreError& e) {
        return fail(exit_store, e.what());
    } catch (const std::exception& e) {
        return fail(exit_other, e.what());
    }
    std::cout.flush();
    // `authguardctl scan ... | head`: the reader has all it wanted.
    if (!std::cout && !output_closed())
        return fail(exit_other, std::string("cannot write the output: ") + std::strerror(errno));
    return code;
}
