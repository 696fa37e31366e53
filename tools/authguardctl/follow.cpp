// follow.cpp - authguardctl follow FILE...: live mail logs into the store,
// for a server whose AUTH chain does not run authguard-checkpw yet. Every
// login line goes through authguard::Guard::check with the log's time, so
// the verdicts, locks and notifications are the hooks' own; every message
// qmail-send accepted from a user who authenticated shortly before, and
// each of its recipients, goes into the user's sending counts as
// authguard-queue would count them.
//
// Like tail -F: a file renamed away (rotation) is read to its end and the
// new one from its start; a truncated file is read again from its start.
// The position in each file is kept in a state file (follow_state.cpp),
// so that a restart goes on where the last run stopped, also when the file
// was rotated meanwhile, and every event reaches the store exactly once,
// also after kill -9 (the marks, see follow.hpp). A store that fails (Redis
// down) is retried with back-off; the line is not passed until the store
// has it. Memory: the current block, a few numbers per file, and an hour's
// sessions, senders and messages in flight (follow_context.cpp).
#include "follow.hpp"
#include "logfile.hpp"
#include "logs_cli.hpp"

#include "authguard/address.hpp"
#include "authguard/guard.hpp"
#include "authguard/hash.hpp"
#include "authguard/log.hpp"
#include "authguard/network_names.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <iostream>

namespace authguardctl {

namespace ag = authguard;
namespace ls = authguard::logscan;
using namespace follow;

namespace {

// Set by SIGTERM/SIGINT: finish the current line, save, exit.
volatile std::sig_atomic_t stop_requested = 0;
void request_stop(int) {
    stop_requested = 1;
}

constexpr std::size_t first_line_limit = 4096; // bytes hashed to recognise a file
// A restart re-reads at most this much before its position to know what
// the lines there mean (an hour of a very busy server's log).
constexpr std::uint64_t context_limit = 256ULL << 20;

// The hash of a file's first line (or of what there is of it); 0 when empty.
std::uint64_t first_line_hash(int fd) {
    char buf[first_line_limit];
    ssize_t n = ::pread(fd, buf, sizeof buf, 0);
    if (n <= 0) return 0;
    std::string_view text(buf, static_cast<std::size_t>(n));
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) return 0; // no whole line yet: not telling
    return ag::fnv1a(text.substr(0, nl)) | 1;
}

// POP3 and IMAP logins read mail; they do not make the user a sender.
bool sends_mail(std::string_view service) {
    return service.rfind("pop", 0) != 0 && service.rfind("imap", 0) != 0;
}

bool unavailable(const ag::Decision& d) {
    return d.reason.rfind("store unavailable", 0) == 0;
}

// One followed file.
struct Followed {
    std::string path;               // the name it is followed by (the state's key)
    std::string follower;           // the id of its marks in the store
    ag::Fd fd;                      // the file open now: the name's, or its rotated predecessor's
    Position at;                    // of the open file
    std::uint64_t segment_no = 0;   // the context's running number of at.segment
    std::uint64_t verify_until = 0; // lines ending there or before may have been fed already
    MailContext context;
    std::string partial;   // an incomplete last line
    bool skipping = false; // inside a line longer than max_log_line
    std::int64_t last_size = -1;
};

class Follower {
  public:
    struct Options {
        bool from_start = false;
        bool messages = true;
        std::set<std::string> services;
    };

    Follower(const ag::Config& config, const StateFile& state, Options options)
        : config_(config), store_(ag::open_store(config)), logger_(config.log_file),
          guard_(config, *store_, logger_), parser_(ls::YearMode::before_reference), state_(state),
          options_(std::move(options)) {}

    void add(const std::string& path) {
        Followed f;
        f.path = path;
        f.follower = follower_id(state_.path(), path);
        files_.push_back(std::move(f));
    }

    // Opens every file where the state says (or at its end, or its start
    // with --from-start); a file rotated while stopped is read from its
    // old inode first.
    void start() {
        saved_ = state_.load();
        for (auto& f : files_) {
            auto known = saved_.find(f.path);
            if (known != saved_.end())
                resume(f, Position(known->second)); // record() changes saved_
            else
                open_fresh(f);
        }
        save(true);
    }

    // Reads what is there in every file; true when something was read.
    bool poll_once() {
        bool any = false;
        for (auto& f : files_) {
            if (stop_requested) break;
            any |= follow(f);
        }
        return any;
    }

    void finish() {
        rejudge();
        save(true);
    }

    std::string totals() const {
        std::string text = std::to_string(logins_) + " logins";
        if (options_.messages)
            text += ", " + std::to_string(messages_) + " messages, " + std::to_string(recipients_) +
                    " recipients";
        if (already_ > 0) text += " (and " + std::to_string(already_) + " events the store had)";
        return text;
    }

  private:
    // What follow tells its reader. A reader that went away (`follow ... |
    // head`) ends the run as SIGTERM does: the position saved, exit 0.
    void say(const std::string& text) {
        std::cout << text << std::endl;
        if (!std::cout && output_closed()) stop_requested = 1;
    }

    bool open_path(Followed& f) { return open_file(f, f.path); }

    bool open_file(Followed& f, const std::string& name) {
        int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return false;
        f.fd = ag::Fd(fd);
        struct stat st {};
        ::fstat(fd, &st);
        f.at.dev = static_cast<std::uint64_t>(st.st_dev);
        f.at.ino = static_cast<std::uint64_t>(st.st_ino);
        f.at.offset = 0;
        f.at.hash = first_line_hash(fd);
        f.partial.clear();
        f.skipping = false;
        return true;
    }

    // A new reading of the open file from `offset`: its events get tokens
    // no earlier event had.
    void start_segment(Followed& f, std::uint64_t offset) {
        f.at.offset = f.at.horizon = f.at.context = offset;
        f.at.segment = new_segment();
        f.segment_no = ++segments_;
        f.verify_until = 0;
        ::lseek(f.fd.get(), static_cast<off_t>(offset), SEEK_SET);
    }

    // Goes on with the segment the state names: events of lines up to its
    // horizon are checked against the marks, and what the lines from its
    // context on mean is read again.
    void continue_segment(Followed& f, const Position& was) {
        if (was.segment.empty()) { // a state written before marks existed
            start_segment(f, was.offset);
            return;
        }
        f.at.segment = was.segment;
        f.at.horizon = f.verify_until = was.horizon;
        f.segment_no = ++segments_;
        rebuild_context(f, was.context, was.offset);
        f.at.offset = was.offset;
        f.at.context = was.context;
        ::lseek(f.fd.get(), static_cast<off_t>(was.offset), SEEK_SET);
    }

    void open_fresh(Followed& f) {
        if (!open_path(f)) {
            say("waiting for " + esc(f.path));
            return;
        }
        std::uint64_t offset = 0;
        if (!options_.from_start) {
            // start at a line's end: whatever follows the last newline is new
            struct stat st {};
            ::fstat(f.fd.get(), &st);
            offset = last_line_end(f.fd.get(), static_cast<std::uint64_t>(st.st_size));
        }
        start_segment(f, offset);
        record(f);
        say("following " + esc(f.path) + " from byte " + std::to_string(offset));
    }

    static std::uint64_t last_line_end(int fd, std::uint64_t size) {
        char buf[4096];
        std::uint64_t end = size;
        while (end > 0) {
            std::uint64_t from = end > sizeof buf ? end - sizeof buf : 0;
            ssize_t n =
                ::pread(fd, buf, static_cast<std::size_t>(end - from), static_cast<off_t>(from));
            if (n <= 0) return 0;
            for (ssize_t i = n - 1; i >= 0; --i)
                if (buf[i] == '\n') return from + static_cast<std::uint64_t>(i) + 1;
            end = from;
        }
        return 0;
    }

    static bool same_file(const Position& a, const Position& b) {
        return a.dev == b.dev && a.ino == b.ino && (b.hash == 0 || a.hash == b.hash);
    }

    void resume(Followed& f, const Position& was) {
        if (!open_path(f)) {
            say("waiting for " + esc(f.path));
            return;
        }
        struct stat st {};
        ::fstat(f.fd.get(), &st);
        bool same = same_file(f.at, was);
        if (same && static_cast<std::uint64_t>(st.st_size) >= was.offset) {
            continue_segment(f, was);
            record(f);
            say("following " + esc(f.path) + " from byte " + std::to_string(was.offset));
            return;
        }
        if (f.at.dev == was.dev && f.at.ino == was.ino) {
            // Truncated while stopped (and perhaps written again): the rest
            // of copytruncate's copy first, as when it happens live.
            if (std::string copy; find_copy(f, was, copy)) {
                say(esc(f.path) + " was truncated while stopped: the rest of its copy " +
                    esc(copy) + " first");
                continue_segment(f, was);
                record(f);
                drain(f, true);
                if (stop_requested) return;
                f.fd.reset();
                if (!open_path(f)) {
                    say("waiting for " + esc(f.path));
                    return;
                }
            } else {
                say(esc(f.path) +
                    " was truncated while stopped, and no copy of it was found: "
                    "whatever was written to it after byte " +
                    std::to_string(was.offset) + " and before the truncation is lost");
            }
            say(esc(f.path) + " was truncated while stopped: from its start");
            start_segment(f, 0);
            record(f);
            return;
        }
        // Rotated while stopped: the rest of the old file first, if it is
        // still there (its progress is kept under this file's name, so that
        // a stop meanwhile resumes in it).
        if (std::string name; find_rotated(f, was, name)) {
            say(esc(f.path) + " was rotated while stopped: the rest of " + esc(name) + " first");
            continue_segment(f, was);
            record(f);
            drain(f, true);
            if (stop_requested) return;
        } else {
            say(esc(f.path) +
                " was replaced while stopped and the old file is gone: lines after byte " +
                std::to_string(was.offset) + " of it are lost");
        }
        f.fd.reset();
        if (!open_path(f)) {
            say("waiting for " + esc(f.path));
            return;
        }
        say("following " + esc(f.path) + " from its start");
        start_segment(f, 0);
        record(f);
    }

    // Opens into f the file beside f.path (maillog.1, maillog-20240102, ...,
    // or a copytruncate's copy being read when follow stopped) with the old
    // inode.
    bool find_rotated(Followed& f, const Position& was, std::string& found) {
        const std::string& path = f.path;
        auto slash = path.rfind('/');
        std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
        std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
        std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
        if (!d) return false;
        while (dirent* e = ::readdir(d.get())) {
            std::string name = e->d_name;
            if (name == base || name == "." || name == "..") continue;
            if (static_cast<std::uint64_t>(e->d_ino) != was.ino) continue;
            found = dir + "/" + name;
            if (open_file(f, found) && same_file(f.at, was)) return true;
        }
        return false;
    }

    // Reads and handles the new lines of f; rotation and truncation.
    bool follow(Followed& f) {
        if (f.fd.get() < 0) {
            if (!open_path(f)) return false;
            say("following " + esc(f.path) + " from its start");
            start_segment(f, 0);
            record(f);
        }
        // Truncation first: read at the old position, a truncated file
        // that grew again would give the middle of its new lines.
        struct stat opened {};
        ::fstat(f.fd.get(), &opened);
        bool resized = opened.st_size != f.last_size;
        f.last_size = opened.st_size;
        if (resized &&
            (static_cast<std::uint64_t>(opened.st_size) < f.at.offset + f.partial.size() ||
             (f.at.hash != 0 && opened.st_size > 0 && first_line_hash(f.fd.get()) != f.at.hash)))
            return truncated(f); // (copytruncate, or written over)
        bool any = drain(f, false);
        if (stop_requested) return any;
        struct stat now {};
        bool gone = ::stat(f.path.c_str(), &now) != 0;
        if (gone || static_cast<std::uint64_t>(now.st_ino) != f.at.ino ||
            static_cast<std::uint64_t>(now.st_dev) != f.at.dev) {
            // Rotated: what the old file still has, then the new one.
            any |= drain(f, true);
            if (gone || stop_requested) return any;
            if (!open_path(f)) return any;
            say(esc(f.path) + " was rotated: following the new file from its start");
            start_segment(f, 0);
            record(f);
            save(false);
            drain(f, false);
            return true;
        }
        if (f.at.hash == 0 && opened.st_size > 0) f.at.hash = first_line_hash(f.fd.get());
        return any;
    }

    // f's file was truncated under it. copytruncate (logrotate) copied it
    // first: the lines written since the last look (up to --interval) are
    // in the copy, which begins with the same first line. They are read
    // from it, in the same segment (the copy's bytes are the file's, at
    // the same offsets), then the truncated file from its start in a new
    // one: the copy holds everything up to the truncation, the file only
    // what came after, so no line is read twice.
    bool truncated(Followed& f) {
        const std::uint64_t at = f.at.offset + f.partial.size();
        const Position was = f.at;
        if (std::string copy; find_copy(f, was, copy)) {
            struct stat st {};
            ::fstat(f.fd.get(), &st);
            say(esc(f.path) + " was truncated: the rest of its copy " + esc(copy) + " first, " +
                std::to_string(static_cast<std::uint64_t>(st.st_size) -
                               std::min<std::uint64_t>(at, st.st_size)) +
                " bytes from byte " + std::to_string(at));
            // Kept under f.path with the copy's inode: a stop meanwhile
            // resumes in the copy (resume, find_rotated).
            record(f);
            save(false);
            drain(f, true);
            if (stop_requested) return true;
        } else {
            std::string text = esc(f.path) +
                               " was truncated and no copy of it was found beside it (" +
                               (f.at.hash == 0 ? std::string("its first line was never whole")
                                               : "none begins with its first line and holds byte " +
                                                     std::to_string(f.at.offset)) +
                               "): whatever was written to it after byte " + std::to_string(at) +
                               " and before the truncation is lost (at most --interval's worth)";
            say(text);
            logger_.write(ag::Logger::Level::warning, "follow: " + text);
        }
        f.fd.reset();
        f.partial.clear();
        f.skipping = false;
        if (!open_path(f)) {
            say("waiting for " + esc(f.path));
            return true;
        }
        say(esc(f.path) + " was truncated: from its start");
        start_segment(f, 0);
        record(f);
        save(false);
        drain(f, false);
        return true;
    }

    // Opens into f the copy of the file `was` describes that copytruncate
    // left beside it: a regular file of the same directory, not that
    // file, beginning with its first line and at least as long as `was`'s
    // position. maillog.1, maillog.0, maillog-20240102 or any other name;
    // the most recently modified first. Only f.fd and f.at's file fields
    // change. Compressed copies are not read.
    bool find_copy(Followed& f, const Position& was, std::string& found) {
        if (was.hash == 0) return false; // nothing to recognise it by
        const std::string& path = f.path;
        auto slash = path.rfind('/');
        std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
        std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
        if (!d) return false;
        struct Candidate {
            std::string name;
            std::int64_t mtime_ns;
        };
        std::vector<Candidate> candidates;
        while (dirent* e = ::readdir(d.get())) {
            std::string name = e->d_name;
            if (name == "." || name == "..") continue;
            struct stat st {};
            if (::fstatat(::dirfd(d.get()), e->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
                continue;
            if (static_cast<std::uint64_t>(st.st_ino) == was.ino &&
                static_cast<std::uint64_t>(st.st_dev) == was.dev)
                continue; // the truncated file itself
            if (static_cast<std::uint64_t>(st.st_size) < was.offset) continue;
            candidates.push_back(
                {dir + "/" + name,
                 static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec});
        }
        std::sort(candidates.begin(), candidates.end(),
                  [](const Candidate& a, const Candidate& b) { return a.mtime_ns > b.mtime_ns; });
        for (const Candidate& c : candidates) {
            int fd = ::open(c.name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
            if (fd < 0) continue;
            ag::Fd copy(fd);
            if (first_line_hash(fd) != was.hash) continue;
            struct stat st {};
            ::fstat(fd, &st);
            f.fd = std::move(copy);
            f.at.dev = static_cast<std::uint64_t>(st.st_dev);
            f.at.ino = static_cast<std::uint64_t>(st.st_ino);
            f.at.hash = was.hash;
            found = c.name;
            return true;
        }
        return false;
    }

    // Reads f to its end, handling every whole line; with `closed` (a
    // rotated file that will not grow) a last line without newline too.
    // Stops early, the position exact, when asked to stop.
    bool drain(Followed& f, bool closed) {
        bool any = false;
        char buf[65536];
        for (;;) {
            if (stop_requested) break;
            ::lseek(f.fd.get(), static_cast<off_t>(f.at.offset + f.partial.size()), SEEK_SET);
            ssize_t n = ::read(f.fd.get(), buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            any = true;
            // The horizon first: no event of these lines is fed before the
            // state says they may have been (see follow.hpp).
            std::uint64_t block_end =
                f.at.offset + f.partial.size() + static_cast<std::uint64_t>(n);
            if (block_end > f.at.horizon) {
                f.at.horizon = block_end;
                record(f);
                save(false);
            }
            std::string_view data(buf, static_cast<std::size_t>(n));
            while (!data.empty()) {
                auto nl = data.find('\n');
                if (nl == std::string_view::npos) {
                    if (f.skipping) {
                        f.at.offset += data.size();
                    } else {
                        f.partial.append(data);
                        if (f.partial.size() > max_log_line) { // dropped: too long to be a log line
                            f.skipping = true;
                            f.at.offset += f.partial.size();
                            f.partial.clear();
                        }
                    }
                    break;
                }
                std::size_t consumed = nl + 1;
                if (f.skipping) {
                    f.skipping = false;
                    f.at.offset += consumed;
                } else {
                    std::string_view text = data.substr(0, nl);
                    if (!f.partial.empty()) {
                        f.partial.append(text);
                        text = f.partial;
                    }
                    if (!handle(f, text)) { // asked to stop while the store was away
                        record(f);
                        return any;
                    }
                    f.at.offset += text.size() + 1;
                    f.partial.clear();
                }
                data.remove_prefix(consumed);
                if (f.at.offset >= f.verify_until) rejudge();
                if (stop_requested) {
                    record(f);
                    return any;
                }
            }
        }
        if (closed && !f.partial.empty() && !f.skipping && !stop_requested &&
            handle(f, f.partial, false)) {
            f.at.offset += f.partial.size();
            f.partial.clear();
        }
        rejudge();
        record(f);
        if (saved_ != written_) save(false);
        return any;
    }

    // Handles the lines of f's open file from `from` to `to` (the state's
    // context and position) for their meaning only: nothing is fed.
    void rebuild_context(Followed& f, std::uint64_t from, std::uint64_t to) {
        if (from >= to) return;
        rebuilding_ = true;
        std::string line;
        bool skipping = false; // as drain does: a line too long is dropped
        char buf[65536];
        std::uint64_t line_start = from;
        for (std::uint64_t at = from; at < to;) {
            auto want = static_cast<std::size_t>(std::min<std::uint64_t>(sizeof buf, to - at));
            ssize_t n = ::pread(f.fd.get(), buf, want, static_cast<off_t>(at));
            if (n <= 0) break;
            std::string_view data(buf, static_cast<std::size_t>(n));
            at += data.size();
            for (std::size_t nl; (nl = data.find('\n')) != std::string_view::npos;) {
                line.append(data.substr(0, nl));
                f.at.offset = line_start; // where handle() takes the line's place from
                if (!skipping) handle(f, line);
                skipping = false;
                line_start += line.size() + 1;
                line.clear();
                data.remove_prefix(nl + 1);
            }
            line.append(data);
            if (line.size() > max_log_line) {
                skipping = true;
                line_start += line.size();
                line.clear();
            }
        }
        rebuilding_ = false;
    }

    // The state of f as it goes into the state file: with the earliest line
    // its context still needs.
    void record(Followed& f) {
        auto first = f.context.earliest(f.segment_no);
        std::uint64_t context = first ? std::min(*first, f.at.offset) : f.at.offset;
        f.at.context = f.at.offset - context > context_limit ? f.at.offset : context;
        saved_[f.path] = f.at;
    }

    void save(bool sync) {
        state_.save(saved_, sync);
        written_ = saved_;
    }

    // One line (`terminated`: by a newline, else the last of a rotated
    // file); false when it could not be passed to the store before a stop
    // was asked for (it is then read again next time).
    bool handle(Followed& f, std::string_view text, bool terminated = true) {
        parser_.set_reference(static_cast<std::int64_t>(std::time(nullptr)));
        parser_.parse(text, line_);
        bool mail_line =
            line_.kind == ls::Kind::message || line_.kind == ls::Kind::delivery_start ||
            line_.kind == ls::Kind::delivery_done || line_.kind == ls::Kind::message_end;
        if (line_.kind != ls::Kind::auth && !(mail_line && options_.messages)) return true;
        const Where at{f.segment_no, f.at.offset, line_.time};
        f.context.prune(line_.time);
        const std::uint64_t line_end = f.at.offset + text.size() + (terminated ? 1 : 0);
        if (line_.kind == ls::Kind::auth) return login(f, at, line_end);
        return mail(f, at, line_end);
    }

    bool login(Followed& f, const Where& at, std::uint64_t line_end) {
        const ls::AuthRecord& a = line_.auth;
        ag::Event event;
        if (!ag::normalize_user(a.user, config_, event.user).empty()) return true;
        // Whoever got in to send mail may send it: the hooks' lines and
        // the services left out say so too.
        bool let_in = a.source == ls::Source::authguard
                          ? a.verdict == "allow" || a.verdict == "alert"
                          : a.outcome == ag::Outcome::success;
        if (options_.messages && let_in && sends_mail(a.service))
            f.context.authenticated(event.user, at);
        if (a.source == ls::Source::authguard)
            return true; // the hooks' own decisions: counted by them
        if (!options_.services.empty() && !options_.services.count(std::string(a.service)))
            return true;
        if (a.address.empty()) {
            event.address = std::string(ag::unknown_address);
        } else if (auto parsed = ag::parse_address(a.address)) {
            event.address = parsed->to_string();
        } else {
            return true;
        }
        // Accept::AUTH comes again with every RCPT of one session, Postfix's
        // login with every message of one session (logscan.hpp: AuthRecord)
        if ((a.source == ls::Source::qmail_smtpd ||
             (a.source == ls::Source::postfix && a.session != 0)) &&
            f.context.repeats_session(a.session, event.user, event.address, at))
            return true;
        event.time = line_.time;
        event.outcome = a.outcome;
        event.service = std::string(a.service);
        for (std::uint32_t i = 0; i < a.attempts; ++i) {
            Place place{f.at.segment, f.at.offset, i};
            bool fed = feed(f, place, line_end, &event, event.user, [&](const ag::FeedMark& mark) {
                ag::CheckOptions options;
                options.mark = mark;
                options.already_let_in = true; // the server let it in; we only read the log
                ag::Decision d = guard_.check(event, options);
                if (unavailable(d)) return false;
                ++logins_;
                if (d.verdict != ag::Verdict::allow) show(d, event);
                return true;
            });
            if (!fed) return false;
        }
        return true;
    }

    bool mail(Followed& f, const Where& at, std::uint64_t line_end) {
        const ls::MessageRecord& m = line_.message;
        MailContext::Message* message = nullptr;
        switch (line_.kind) {
        case ls::Kind::message: {
            std::string sender;
            if (!ag::normalize_user(m.sender, config_, sender).empty()) return true;
            message =
                f.context.message(m.msg, sender, at); // null: inbound, a bounce, not logged in
            break;
        }
        case ls::Kind::delivery_start:
            message = f.context.first_delivery(m.msg, m.delivery);
            break;
        case ls::Kind::delivery_done:
            f.context.delivery_done(m.delivery, m.deferred);
            return true;
        case ls::Kind::message_end:
            f.context.message_end(m.msg);
            return true;
        default:
            return true;
        }
        if (!message) return true; // not followed, or a deferred recipient's retry
        const bool whole = line_.kind == ls::Kind::message;
        Place place{f.at.segment, f.at.offset, 0};
        return feed(f, place, line_end, nullptr, message->sender, [&](const ag::FeedMark& mark) {
            ag::Decision d = guard_.check_logged_message(message->sender, at.time, whole ? 1 : 0,
                                                         whole ? 0 : 1, mark);
            if (unavailable(d)) return false;
            ++(whole ? messages_ : recipients_);
            if (d.verdict != message->shown) {
                message->shown = d.verdict;
                if (d.verdict != ag::Verdict::allow)
                    say(std::string(ag::to_string(d.verdict)) + " sender=" + esc(message->sender) +
                        " time=" + std::to_string(at.time) + " reason=\"" + esc(d.reason) + "\"");
            }
            return true;
        });
    }

    // A verdict line. A locked account's refused logins (a botnet keeps
    // trying for days) are shown at most once a minute of log time per
    // user, saying how many were left out; everything else every time.
    void show(const ag::Decision& d, const ag::Event& event) {
        std::string left_out;
        if (d.verdict == ag::Verdict::refuse_locked) {
            auto [quiet, fresh] = refusals_.try_emplace(event.user, Refusals{event.time, 0});
            if (!fresh) {
                if (event.time >= quiet->second.shown && event.time - quiet->second.shown < 60) {
                    ++quiet->second.left_out;
                    return;
                }
                if (quiet->second.left_out)
                    left_out = " left_out=" + std::to_string(quiet->second.left_out);
                quiet->second = Refusals{event.time, 0};
            }
            if (refusals_.size() > 10000) refusals_.clear(); // a bound, not a record
        }
        // With providers (asn-db), the address's provider, named: which
        // carrier a login came from is what an admin asks first. Absent
        // where the table has none, and without a table.
        std::string provider;
        if (ag::provider_of(event.address, config_))
            provider =
                " provider=\"" + esc(ag::address_network_label(event.address, config_)) + "\"";
        say(std::string(ag::to_string(d.verdict)) + " user=" + esc(event.user) +
            " address=" + esc(event.address) + provider + " time=" + std::to_string(event.time) +
            (d.reason.empty() ? "" : " reason=\"" + esc(d.reason) + "\"") + left_out);
    }

    // One event into the store with its mark, unless the store has it
    // already: a login (`login`) or else a message's or recipient's count
    // for `user`. The store's mark is asked for a line a stopped run may
    // have fed (see follow.hpp), and after a failure that may have come
    // after the store took the event (a reply that timed out). False when
    // asked to stop while the store was away.
    template <class Feed>
    bool feed(Followed& f, const Place& place, std::uint64_t line_end, const ag::Event* login,
              const std::string& user, Feed&& into_store) {
        if (rebuilding_) return true;
        bool ask = line_end <= f.verify_until;
        const ag::FeedMark mark{f.follower, token(place)};
        return until_stored([&] {
            if (ask) {
                std::optional<std::string> stored;
                try {
                    stored = store_->feed_mark(
                        user, login ? ag::FeedKind::login : ag::FeedKind::message, f.follower);
                } catch (const ag::StoreError&) {
                    return false;
                }
                if (stored && counted(*stored, place)) {
                    ++already_;
                    // it may still owe its lock (see rejudge)
                    if (login) last_counted_ = *login;
                    return true;
                }
                rejudge();
            }
            ask = !into_store(mark);
            return !ask;
        });
    }

    // The last login the store had already (fed by a run that stopped, or
    // by a try whose reply was lost) is judged again, not counted: a lock
    // it decided on is stored now if that run died before storing it.
    void rejudge() {
        if (!last_counted_) return;
        ag::CheckOptions options;
        options.recorded = true;
        options.already_let_in = true;
        until_stored([&] {
            ag::Decision d = guard_.check(*last_counted_, options);
            if (unavailable(d)) return false;
            if (d.verdict == ag::Verdict::lock) show(d, *last_counted_);
            return true;
        });
        last_counted_.reset();
    }

    // Tries `attempt` until it reaches the store (returns true), with
    // back-off; false when asked to stop first.
    template <class Attempt> bool until_stored(Attempt&& attempt) {
        int delay_ms = 200;
        for (;;) {
            if (attempt()) return true;
            if (stop_requested) return false;
            say("store unavailable; trying again in " + std::to_string(delay_ms) + " ms");
            for (int waited = 0; waited < delay_ms && !stop_requested; waited += 50)
                ::usleep(50000);
            delay_ms = std::min(delay_ms * 2, 30000);
        }
    }

    const ag::Config& config_;
    std::unique_ptr<ag::Store> store_;
    ag::Logger logger_;
    ag::Guard guard_;
    ls::Parser parser_;
    ls::Line line_;
    const StateFile& state_;
    Options options_;
    std::vector<Followed> files_;
    std::map<std::string, Position> saved_;   // what the state file is to hold
    std::map<std::string, Position> written_; // what it holds
    std::uint64_t segments_ = 0;
    bool rebuilding_ = false;
    std::optional<ag::Event> last_counted_;
    struct Refusals {
        std::int64_t shown = 0;     // log time of the last line shown
        std::uint64_t left_out = 0; // refusals since, not shown
    };
    std::map<std::string, Refusals> refusals_; // by user (see show)
    std::uint64_t logins_ = 0, messages_ = 0, recipients_ = 0, already_ = 0;
};

} // namespace

void add_follow_options(po::options_description& d) {
    d.add_options()("state", po::value<std::string>()->value_name("FILE"),
                    "where the position in each file is kept (default: follow-state in "
                    "control/authguard, else authguard-follow.state beside the control directory)")(
        "from-start", po::bool_switch(), "a file without a saved position is read from its start")(
        "once", po::bool_switch(), "read what is there, save the position and exit")(
        "interval", po::value<int>()->default_value(250)->value_name("MS"),
        "how often to look for new lines, rotation and truncation")(
        "services", po::value<std::string>()->value_name("LIST"),
        "only logins of these services (submission,smtp,pop3,...): leave out those that already "
        "go through authguard-checkpw")(
        "no-messages", po::bool_switch(),
        "count no messages (authguard-queue or authguard-spp counts them already)");
}

int cmd_follow(Context& ctx) {
    const ag::Config& config = ctx.config();
    std::string state =
        ctx.options.count("state") ? ctx.options["state"].as<std::string>() : config.follow_state;
    int interval = ctx.options["interval"].as<int>();
    if (interval < 10 || interval > 60000) throw UsageError("--interval wants 10 to 60000 ms");
    Follower::Options options;
    options.from_start = ctx.options["from-start"].as<bool>();
    options.messages = !ctx.options["no-messages"].as<bool>();
    if (ctx.options.count("services")) {
        std::string list = ctx.options["services"].as<std::string>();
        std::size_t start = 0;
        while (start <= list.size()) {
            auto comma = list.find(',', start);
            std::string one =
                list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            if (!one.empty()) options.services.insert(one);
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
        if (options.services.empty())
            throw UsageError("--services wants a list such as submission,smtp");
    }
    for (auto& path : ctx.args)
        if (path == "-") throw UsageError("follow reads files, not standard input");

    struct sigaction sa {};
    sa.sa_handler = request_stop;
    ::sigemptyset(&sa.sa_mask);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    // (SIGPIPE: main's watch_output() turns a closed output into EPIPE.)

    StateFile state_file(state);
    Follower follower(config, state_file, options);
    for (auto& path : ctx.args)
        follower.add(path);
    follower.start();
    bool once = ctx.options["once"].as<bool>();
    while (!stop_requested) {
        bool any = follower.poll_once();
        if (once && !any) break;
        // A reader gone while there was nothing to say ends the run too.
        if (output_closed()) break;
        if (!any) ::poll(nullptr, 0, interval);
    }
    follower.finish();
    std::cout << "stopped after " << follower.totals() << std::endl;
    return exit_ok;
}

} // namespace authguardctl
