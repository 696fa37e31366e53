// authguard-dkim - the DKIM stage of the QMAILQUEUE chain: qmail-smtpd runs
// it instead of qmail-queue (QMAILQUEUE=/var/qmail/bin/authguard-dkim), in
// front of or behind authguard-queue, and it execs the next queue program
// ($DKIMQUEUE, else dkim-next-queue). A thin adapter: lib/dkim parses,
// signs and verifies; this file moves bytes and maps outcomes to exit codes.
//
// The message from an authenticated sender (the session binding, or
// SMTPAUTHUSER with trust-auth-env, or RELAYCLIENT) is signed with the
// keys of its From: domain; every other message is verified and gets an
// Authentication-Results field. The message is read once from fd 0 into an
// unlinked spool file (memory stays bounded whatever its size), starting
// `gap` bytes in; the new fields are then written into that gap, right
// before the header, and the next queue program gets the spool file as fd
// 0, positioned at the first new byte: the message is never copied again,
// and its bytes are handed on exactly as they came, apart from the added
// fields and any Authentication-Results claiming our authserv-id.
//
// Exit codes (qmail-smtpd's replies): the next queue program's own (we exec
// it); 31 (554) for a verification result the policy rejects, or a locked
// sender; 71 (451) for one it tempfails, or an internal failure with
// dkim-on-error = tempfail; 53 (451 write error) when the spool cannot be
// written; 54 (451 read error) when the message or envelope cannot be
// read; 11 (554) for an envelope over 64 MiB; 81 (451) for our own trouble
// before anything was read; 120 (451) when the next queue program cannot
// be run. Otherwise an internal failure hands the message on unsigned.
#include "authguard/config.hpp"
#include "authguard/dkim/engine.hpp"
#include "authguard/dkim/keys.hpp"
#include "authguard/dkim/message.hpp"
#include "authguard/fd.hpp"
#include "authguard/guard.hpp"
#include "authguard/identity.hpp"
#include "authguard/log.hpp"
#include "authguard/next_program.hpp"
#include "authguard/store.hpp"
#include "authguard/version.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ag = authguard;
namespace dkim = authguard::dkim;

namespace {

constexpr int exit_envelope_too_long = 11;
constexpr int exit_reject = 31;
constexpr int exit_write_error = 53;
constexpr int exit_read_error = 54;
constexpr int exit_tempfail = 71;
constexpr int exit_internal = 81;
constexpr int exit_no_exec = 120;

constexpr const char* nested_marker = "AUTHGUARD_DKIM_RUNNING";
constexpr std::size_t envelope_limit = 64u << 20;
// Room for the added fields before the message in the spool file (a
// hole: it costs no disk). One signature is about 500 bytes, an
// Authentication-Results line per signature about 120; more falls back to
// a copy.
constexpr off_t gap = 64 << 10;
constexpr std::size_t header_limit = 1 << 20;

class Failure : public std::runtime_error {
  public:
    Failure(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
    int code() const { return code_; }

  private:
    int code_;
};

bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// An unlinked file in `dir` (O_TMPFILE; else a named one removed at once).
ag::Fd spool_file(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        std::string name = dir + "/authguard-dkim.XXXXXX";
        fd = ::mkostemp(name.data(), O_CLOEXEC);
        if (fd >= 0) ::unlink(name.c_str());
    }
    if (fd < 0)
        throw Failure(exit_write_error,
                      "cannot make a spool file in " + dir + ": " + std::strerror(errno));
    return ag::Fd(fd);
}

void pwrite_all(int fd, const char* p, std::size_t n, off_t at) {
    while (n > 0) {
        ssize_t w = ::pwrite(fd, p, n, at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            throw Failure(exit_write_error,
                          std::string("cannot write the spool file: ") + std::strerror(errno));
        p += w;
        at += w;
        n -= static_cast<std::size_t>(w);
    }
}

std::string first_line_of(const std::filesystem::path& path) {
    try {
        auto text = ag::read_control_file(path, 64 << 10);
        if (!text) return "";
        std::string line = text->substr(0, text->find('\n'));
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
            line.pop_back();
        return line;
    } catch (const std::exception&) {
        return "";
    }
}

std::string authserv_id_of(const ag::Config& config) {
    if (!config.dkim.authserv_id.empty()) return config.dkim.authserv_id;
    std::string me = first_line_of(config.control_dir / "me");
    if (!me.empty() && me.find_first_of(" \t;()\"\\") == std::string::npos) return me;
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0 && host[0]) return host;
    return "localhost";
}

enum class Mode { sign, verify, pass };

// What the stage does with one message, fed as it is read.
struct Work {
    Mode mode = Mode::pass;
    std::string sender; // authenticated user ("" when none)
    std::string authserv_id;
    std::vector<std::string> problems; // logged once the message is handed on

    // Filled once the header is whole.
    dkim::HeaderBlock header;
    bool header_done = false;
    std::string header_bytes; // the message's first bytes, until the header is whole
    std::string domain;
    std::vector<dkim::SigningKey> keys;
    std::vector<std::unique_ptr<dkim::Signer>> signers;
    std::unique_ptr<dkim::Verifier> verifier;
    dkim::CrlfFeed feed;
    std::string converted;
    bool engine_failed = false;
};

void feed_body(Work& w, std::string_view chunk) {
    if (w.engine_failed || (w.signers.empty() && !w.verifier)) return;
    w.converted.clear();
    w.feed.convert(chunk, w.converted);
    try {
        for (auto& s : w.signers)
            s->body(w.converted);
        if (w.verifier) w.verifier->body(w.converted);
    } catch (const dkim::EngineError& e) {
        w.engine_failed = true;
        w.problems.push_back(e.what());
    }
}

// The header is whole (or will never be): choose keys, start the engines,
// feed them the fields, then the body bytes already read.
void start_engines(Work& w, const dkim::Library* library, const ag::Config& config,
                   std::string_view message_so_far, bool at_end) {
    w.header = dkim::parse_header(message_so_far, at_end, header_limit);
    w.header_done = true;
    if (w.mode == Mode::pass || !library) {
        w.mode = Mode::pass;
        return;
    }
    if (w.header.too_large) {
        w.problems.push_back("header larger than 1 MiB: not " +
                             std::string(w.mode == Mode::sign ? "signed" : "verified"));
        w.mode = Mode::pass;
        return;
    }
    if (w.mode == Mode::sign) {
        if (w.header.malformed) {
            w.problems.push_back("malformed header line: not signed");
            w.mode = Mode::pass;
            return;
        }
        dkim::Author author = dkim::author_of(w.header);
        if (author.status != dkim::Author::Status::one) {
            w.problems.push_back(author.status == dkim::Author::Status::none
                                     ? "no From: field: not signed"
                                     : "not exactly one From: author: not signed");
            w.mode = Mode::pass;
            return;
        }
        w.domain = author.domain;
        dkim::KeySources sources;
        sources.control_dir = config.control_dir;
        if (const char* e = std::getenv("DKIMSIGN"); e && *e) sources.dkimsign = e;
        if (const char* e = std::getenv("DKIMKEY"); e && *e) sources.dkimkey = e;
        w.keys = dkim::find_signing_keys(sources, w.domain, w.problems);
        if (w.keys.empty()) {
            w.problems.push_back("no key for " + w.domain + ": not signed");
            w.mode = Mode::pass;
            return;
        }
    }
    try {
        dkim::SignOptions options;
        options.header_canon =
            config.dkim.simple_header ? dkim::Canon::simple : dkim::Canon::relaxed;
        options.body_canon = config.dkim.simple_body ? dkim::Canon::simple : dkim::Canon::relaxed;
        if (w.mode == Mode::sign)
            for (const auto& key : w.keys)
                w.signers.push_back(std::make_unique<dkim::Signer>(*library, key, options));
        else
            w.verifier = std::make_unique<dkim::Verifier>(*library);
        for (const auto& field : w.header.fields) {
            // Forged Authentication-Results of ours are not signed (they
            // go), but a verifier sees the header as it was signed.
            bool ours = dkim::claims_authserv_id(field, w.authserv_id) &&
                        same_name(field.name, "Authentication-Results");
            std::string f = dkim::field_for_library(field);
            for (auto& s : w.signers)
                if (!ours) s->header(f);
            if (w.verifier) w.verifier->header(f);
        }
        for (auto& s : w.signers)
            s->end_header();
        if (w.verifier) w.verifier->end_header();
    } catch (const dkim::EngineError& e) {
        w.engine_failed = true;
        w.problems.push_back(e.what());
        return;
    }
    if (w.header.body_offset < message_so_far.size())
        feed_body(w, message_so_far.substr(w.header.body_offset));
}

struct Outcome {
    std::string added;   // the fields to put before the header
    std::string summary; // for the log
    int refuse = 0;      // an exit code instead of handing on
};

Outcome finish(Work& w, const ag::Config& config) {
    Outcome out;
    dkim::LineEnd eol = w.header.line_end;
    if (w.engine_failed) {
        out.summary = "error";
        if (config.dkim.tempfail_on_error) out.refuse = exit_tempfail;
        return out;
    }
    std::string tail;
    w.feed.finish(tail);
    try {
        if (!tail.empty()) {
            for (auto& s : w.signers)
                s->body(tail);
            if (w.verifier) w.verifier->body(tail);
        }
        if (w.mode == Mode::sign) {
            for (std::size_t i = 0; i < w.signers.size(); ++i) {
                out.added += w.signers[i]->finish(eol);
                out.summary += (out.summary.empty() ? "signed d=" : ", d=") + w.keys[i].domain +
                               " s=" + w.keys[i].selector +
                               " a=" + std::string(dkim::to_string(w.keys[i].type));
            }
        } else if (w.mode == Mode::verify) {
            dkim::Verification v = w.verifier->finish();
            out.added = dkim::authentication_results(w.authserv_id, v, eol);
            // The message's result: pass when any signature passes, else
            // the most telling failure.
            std::string result = "none";
            for (const char* r : {"permerror", "neutral", "policy", "fail", "temperror", "pass"})
                for (const auto& s : v.signatures)
                    if (s.result == r) result = r;
            out.summary = result;
            for (const auto& s : v.signatures)
                out.summary += " [" + s.result + " d=" + s.domain + " s=" + s.selector +
                               (s.reason.empty() ? "" : " " + s.reason) + "]";
            auto it = config.dkim.verify_policy.find(result);
            if (it != config.dkim.verify_policy.end()) {
                if (it->second == ag::Config::Dkim::Action::reject) out.refuse = exit_reject;
                if (it->second == ag::Config::Dkim::Action::tempfail) out.refuse = exit_tempfail;
            }
        }
    } catch (const dkim::EngineError& e) {
        w.problems.push_back(e.what());
        out.added.clear();
        out.summary = "error";
        if (config.dkim.tempfail_on_error) out.refuse = exit_tempfail;
    }
    return out;
}

// The bytes before the body as handed on: the added fields, then the
// header without the Authentication-Results fields that claim our id.
std::string new_prefix(const Work& w, const Outcome& out, std::string_view header_region) {
    std::string prefix = out.added;
    std::size_t at = 0;
    if (w.header_done && !w.header.too_large)
        for (const auto& field : w.header.fields) {
            if (!(same_name(field.name, "Authentication-Results") &&
                  dkim::claims_authserv_id(field, w.authserv_id)))
                continue;
            prefix.append(header_region.substr(at, field.offset - at));
            at = field.offset + field.raw.size();
        }
    prefix.append(header_region.substr(at));
    return prefix;
}

int run(ag::Logger& logger) {
    ag::LoadedConfig loaded = ag::load_config_or_last_valid(ag::default_control_dir());
    ag::Config config = std::move(loaded.config);
    if (!config.log_file.empty() && !std::getenv("AUTHGUARD_LOG_FILE"))
        logger.set_copy_path(config.log_file);
    if (!loaded.problem.empty())
        logger.write(ag::Logger::Level::error, "dkim: " + loaded.message());

    const char* from_env = std::getenv("DKIMQUEUE");
    std::string next = from_env && *from_env ? from_env : config.dkim.next_queue;
    if (std::getenv(nested_marker) || ag::same_file(next, "/proc/self/exe")) {
        logger.write(ag::Logger::Level::error,
                     "dkim: next queue program " + ag::escape_for_log(next) +
                         " is authguard-dkim itself (set dkim-next-queue or DKIMQUEUE)");
        return exit_internal;
    }
    if (std::string why = ag::why_not_runnable(next); !why.empty()) {
        logger.write(ag::Logger::Level::error,
                     "dkim: cannot run the next queue program " + ag::escape_for_log(next) +
                         (from_env && *from_env ? " (from DKIMQUEUE)" : " (from dkim-next-queue)") +
                         ": " + why +
                         "; the message is not queued, the client gets 451 and retries");
        return exit_no_exec;
    }

    Work w;
    w.authserv_id = authserv_id_of(config);
    bool relay = std::getenv("RELAYCLIENT") != nullptr;
    if (config.dkim.sign || config.dkim.verify) {
        try {
            auto store = ag::open_store(config);
            if (auto id = ag::authenticated_identity(config, *store)) w.sender = id->user;
            if (!w.sender.empty()) {
                // Never sign for a locked account (authguard-queue would
                // refuse it later in the chain; here it is refused first).
                ag::Guard guard(config, *store, logger);
                if (guard.check_message(w.sender, 0, 0, "dkim-early").verdict ==
                    ag::Verdict::refuse_locked)
                    return exit_reject;
            }
        } catch (const std::exception& e) {
            w.problems.push_back(std::string("cannot look up the session: ") + e.what());
        }
    }
    bool trusted = !w.sender.empty() || relay;
    w.mode = trusted ? (config.dkim.sign ? Mode::sign : Mode::pass)
                     : (config.dkim.verify ? Mode::verify : Mode::pass);

    if (w.mode == Mode::pass && w.problems.empty()) {
        // Nothing to add: the next queue program reads fd 0 and fd 1 itself.
        ::setenv(nested_marker, "1", 1);
        ::execl(next.c_str(), next.c_str(), static_cast<char*>(nullptr));
        logger.write(ag::Logger::Level::error,
                     "dkim: cannot run " + ag::escape_for_log(next) + ": " + std::strerror(errno));
        return exit_no_exec;
    }

    auto started = std::chrono::steady_clock::now();
    std::unique_ptr<dkim::Library> library;
    if (w.mode != Mode::pass) {
        dkim::KeyLookup lookup;
        lookup.timeout = std::chrono::seconds(config.dkim.dns_timeout);
        try {
            library = std::make_unique<dkim::Library>(lookup);
        } catch (const dkim::EngineError& e) {
            w.problems.push_back(e.what());
            if (config.dkim.tempfail_on_error) return exit_tempfail;
            w.mode = Mode::pass;
        }
    }

    ag::Fd spool = spool_file(config.dkim.spool_dir);
    off_t written = 0;
    std::vector<char> buffer(1 << 16);
    for (;;) {
        ssize_t n = ::read(0, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            throw Failure(exit_read_error,
                          std::string("cannot read the message: ") + std::strerror(errno));
        std::string_view chunk(buffer.data(), static_cast<std::size_t>(n));
        if (n > 0) pwrite_all(spool.get(), chunk.data(), chunk.size(), gap + written);
        written += n;
        if (!w.header_done) {
            std::size_t want = std::min(chunk.size(), header_limit + 1 - w.header_bytes.size());
            w.header_bytes.append(chunk.substr(0, want));
            dkim::HeaderBlock probe = dkim::parse_header(w.header_bytes, n == 0, header_limit);
            if (probe.complete || probe.malformed || probe.too_large || n == 0)
                start_engines(w, library.get(), config, w.header_bytes, n == 0);
            if (w.header_done && want < chunk.size()) feed_body(w, chunk.substr(want));
        } else if (n > 0) {
            feed_body(w, chunk);
        }
        if (n == 0) break;
    }

    std::string envelope;
    int read = ag::read_all(1, envelope, envelope_limit);
    if (read <= 0)
        throw Failure(read == 0 ? exit_envelope_too_long : exit_read_error,
                      read == 0 ? "envelope larger than 64 MiB" : "cannot read the envelope");

    Outcome outcome;
    if (w.mode != Mode::pass) outcome = finish(w, config);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - started)
                  .count();
    for (const auto& p : w.problems)
        logger.write(ag::Logger::Level::error, "dkim: " + ag::escape_for_log(p, 400));
    std::string who = w.sender.empty() ? (relay ? "relayclient" : "-") : w.sender;
    logger.write(
        ag::Logger::Level::info,
        "dkim " +
            std::string(w.mode == Mode::sign     ? "sign"
                        : w.mode == Mode::verify ? "verify"
                                                 : "pass") +
            " user=" + ag::escape_word_for_log(who) +
            (w.domain.empty() ? "" : " domain=" + ag::escape_word_for_log(w.domain)) +
            " bytes=" + std::to_string(written) + " ms=" + std::to_string(ms) + " result=" +
            ag::escape_for_log(outcome.summary.empty() ? "unchanged" : outcome.summary, 600) +
            (outcome.refuse
                 ? " action=" + std::string(outcome.refuse == exit_reject ? "reject" : "tempfail")
                 : ""));
    if (outcome.refuse) return outcome.refuse;

    // The header region as spooled, then the new prefix written into the
    // gap so that it ends where the body begins.
    // A header never parsed whole (too large) is handed on untouched.
    std::size_t body_offset = w.header_done && !w.header.too_large ? w.header.body_offset : 0;
    std::string_view header_region(w.header_bytes.data(),
                                   std::min(body_offset, w.header_bytes.size()));
    std::string prefix = new_prefix(w, outcome, header_region);
    off_t start =
        gap + static_cast<off_t>(header_region.size()) - static_cast<off_t>(prefix.size());
    ag::Fd message = std::move(spool);
    if (start < 0) {
        // More than the gap holds: a second spool file, the body copied.
        ag::Fd copy = spool_file(config.dkim.spool_dir);
        pwrite_all(copy.get(), prefix.data(), prefix.size(), 0);
        off_t in = gap + static_cast<off_t>(header_region.size());
        off_t out = static_cast<off_t>(prefix.size());
        off_t left = written - static_cast<off_t>(header_region.size());
        while (left > 0) {
            ssize_t c = ::copy_file_range(message.get(), &in, copy.get(), &out,
                                          static_cast<std::size_t>(left), 0);
            if (c < 0 && errno == EINTR) continue;
            if (c <= 0)
                throw Failure(exit_write_error,
                              std::string("cannot copy the message: ") + std::strerror(errno));
            left -= c;
        }
        message = std::move(copy);
        start = 0;
    } else {
        pwrite_all(message.get(), prefix.data(), prefix.size(), start);
    }
    if (::lseek(message.get(), start, SEEK_SET) != start)
        throw Failure(exit_write_error, std::string("lseek: ") + std::strerror(errno));

    ag::Fd envelope_file = spool_file(config.dkim.spool_dir);
    pwrite_all(envelope_file.get(), envelope.data(), envelope.size(), 0);
    if (::dup2(message.get(), 0) < 0 || ::dup2(envelope_file.get(), 1) < 0)
        throw Failure(exit_internal, std::string("dup2: ") + std::strerror(errno));
    ::setenv(nested_marker, "1", 1);
    ::execl(next.c_str(), next.c_str(), static_cast<char*>(nullptr));
    logger.write(ag::Logger::Level::error,
                 "dkim: cannot run " + ag::escape_for_log(next) + ": " + std::strerror(errno));
    return exit_no_exec;
}

constexpr char usage[] =
    "usage: QMAILQUEUE=/var/qmail/bin/authguard-dkim in qmail-smtpd's environment\n"
    "A QMAILQUEUE stage: signs the mail of authenticated senders with the keys in\n"
    "control/domainkeys/DOMAIN/ (or DKIMSIGN), verifies everyone else's and adds\n"
    "Authentication-Results, then runs the next queue program ($DKIMQUEUE, else\n"
    "dkim-next-queue in control/authguard). See authguard-dkim(8).\n";

} // namespace

int main(int argc, char** argv) {
    if (ag::version_asked(argc, argv)) return ag::print_version("authguard-dkim");
    if (ag::help_asked(argc, argv)) return ag::print_help(usage);
    ::signal(SIGPIPE, SIG_IGN);
    ag::Logger logger;
    try {
        return run(logger);
    } catch (const Failure& e) {
        logger.write(ag::Logger::Level::error,
                     std::string("dkim: ") + e.what() + "; the client gets " +
                         (e.code() == exit_envelope_too_long ? "554" : "451"));
        return e.code();
    } catch (const std::exception& e) {
        logger.write(ag::Logger::Level::error, std::string("dkim: internal error: ") + e.what());
    }
    return exit_internal;
}
