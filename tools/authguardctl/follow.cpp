// follow.cpp - authguardctl follow FILE...: live mail logs into the store,
// for a server whose AUTH chain does not run authguard-checkpw yet. Every
// login line goes through authguard::Guard::check with the log's time, so
// the verdicts, locks and notifications are the hooks' own.
//
// Like tail -F: a file renamed away (rotation) is read to its end and the
// new one from its start; a truncated file is read again from its start.
// The position in each file is kept in a state file (inode, offset and a
// hash of the first line, written by rename), so that a restart goes on
// where the last run stopped, also when the file was rotated meanwhile.
// A store that fails (Redis down) is retried with back-off; the line is not
// passed until the store has it. Memory: the current line and a few numbers
// per file.
#include "logs_cli.hpp"

#include "authguard/address.hpp"
#include "authguard/guard.hpp"
#include "authguard/log.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

namespace authguardctl {

namespace ag = authguard;
namespace ls = authguard::logscan;

namespace {

// Set by SIGTERM/SIGINT: finish the current line, save, exit.
volatile std::sig_atomic_t stop_requested = 0;
void request_stop(int) { stop_requested = 1; }

constexpr std::size_t first_line_limit = 4096; // bytes hashed to recognise a file

std::uint64_t fnv1a(std::string_view bytes) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

// The hash of a file's first line (or of what there is of it); 0 when empty.
std::uint64_t first_line_hash(int fd) {
    char buf[first_line_limit];
    ssize_t n = ::pread(fd, buf, sizeof buf, 0);
    if (n <= 0) return 0;
    std::string_view text(buf, static_cast<std::size_t>(n));
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) return 0; // no whole line yet: not telling
    return fnv1a(text.substr(0, nl)) | 1;
}

struct Position {
    std::uint64_t dev = 0, ino = 0, offset = 0, hash = 0;
    bool operator==(const Position&) const = default;
};

// "v1 DEV INO OFFSET HASH PATH" per line; PATH last (it may hold spaces).
std::map<std::string, Position> load_state(const std::string& path) {
    std::map<std::string, Position> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string version, file;
        Position p;
        if (!(words >> version >> p.dev >> p.ino >> p.offset >> p.hash) || version != "v1") continue;
        words.get();
        std::getline(words, file);
        if (!file.empty()) out[file] = p;
    }
    return out;
}

void save_state(const std::string& path, const std::map<std::string, Position>& state, bool sync) {
    std::string tmp = path + ".tmp";
    std::string text;
    for (auto& [file, p] : state)
        text += "v1 " + std::to_string(p.dev) + " " + std::to_string(p.ino) + " " + std::to_string(p.offset) +
                " " + std::to_string(p.hash) + " " + file + "\n";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) throw std::runtime_error("cannot write the state file " + tmp + ": " + std::strerror(errno));
    ag::Fd owner(fd);
    if (!ag::write_all(fd, text.data(), text.size()) || (sync && ::fsync(fd) != 0))
        throw std::runtime_error("cannot write the state file " + tmp + ": " + std::strerror(errno));
    owner.reset();
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
        throw std::runtime_error("cannot rename " + tmp + ": " + std::strerror(errno));
}

// One followed file.
struct Followed {
    std::string path;    // the name it is followed by (the state's key)
    ag::Fd fd;           // the file open now: the name's, or its rotated predecessor's
    Position at;         // of the open file
    std::string partial; // an incomplete last line
    bool skipping = false; // inside a line longer than max_log_line
    std::int64_t last_size = -1;
};

class Follower {
  public:
    Follower(const ag::Config& config, std::string state_path, bool from_start, std::set<std::string> services)
        : config_(config), store_(ag::open_store(config)), logger_(config.log_file),
          guard_(config, *store_, logger_), parser_(ls::YearMode::before_reference),
          state_path_(std::move(state_path)), from_start_(from_start), services_(std::move(services)) {}

    void add(const std::string& path) { files_.push_back(Followed{path, {}, {}, {}, false, -1}); }

    // Opens every file where the state says (or at its end, or its start
    // with --from-start); a file rotated while stopped is read from its
    // old inode first.
    void start() {
        saved_ = load_state(state_path_);
        for (auto& f : files_) {
            auto known = saved_.find(f.path);
            if (known != saved_.end()) resume(f, known->second);
            else open_fresh(f, from_start_);
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

    void finish() { save(true); }

    std::uint64_t events() const { return events_; }

  private:
    void say(const std::string& text) { std::cout << text << std::endl; }

    bool open_path(Followed& f) { return open_file(f, f.path); }

    bool open_file(Followed& f, const std::string& name) {
        int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return false;
        f.fd = ag::Fd(fd);
        struct stat st {};
        ::fstat(fd, &st);
        f.at = Position{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino), 0,
                        first_line_hash(fd)};
        f.partial.clear();
        f.skipping = false;
        return true;
    }

    void open_fresh(Followed& f, bool from_start) {
        if (!open_path(f)) {
            say("waiting for " + esc(f.path));
            return;
        }
        if (!from_start) {
            struct stat st {};
            ::fstat(f.fd.get(), &st);
            f.at.offset = static_cast<std::uint64_t>(st.st_size);
            // start at a line's end: whatever follows the last newline is new
            f.at.offset = last_line_end(f.fd.get(), f.at.offset);
        }
        ::lseek(f.fd.get(), static_cast<off_t>(f.at.offset), SEEK_SET);
        say("following " + esc(f.path) + " from byte " + std::to_string(f.at.offset));
    }

    static std::uint64_t last_line_end(int fd, std::uint64_t size) {
        char buf[4096];
        std::uint64_t end = size;
        while (end > 0) {
            std::uint64_t from = end > sizeof buf ? end - sizeof buf : 0;
            ssize_t n = ::pread(fd, buf, static_cast<std::size_t>(end - from), static_cast<off_t>(from));
            if (n <= 0) return 0;
            for (ssize_t i = n - 1; i >= 0; --i)
                if (buf[i] == '\n') return from + static_cast<std::uint64_t>(i) + 1;
            end = from;
        }
        return 0;
    }

    void resume(Followed& f, const Position& was) {
        if (!open_path(f)) {
            say("waiting for " + esc(f.path));
            return;
        }
        struct stat st {};
        ::fstat(f.fd.get(), &st);
        bool same = f.at.dev == was.dev && f.at.ino == was.ino && (was.hash == 0 || f.at.hash == was.hash);
        if (same && static_cast<std::uint64_t>(st.st_size) >= was.offset) {
            f.at.offset = was.offset;
            ::lseek(f.fd.get(), static_cast<off_t>(was.offset), SEEK_SET);
            say("following " + esc(f.path) + " from byte " + std::to_string(was.offset));
            return;
        }
        if (same) {
            say(esc(f.path) + " was truncated while stopped: from its start");
            return;
        }
        // Rotated while stopped: the rest of the old file first, if it is
        // still there (its progress is kept under this file's name, so that
        // a stop meanwhile resumes in it).
        Followed old;
        old.path = f.path;
        if (std::string name; find_rotated(f.path, was, old, name)) {
            say(esc(f.path) + " was rotated while stopped: the rest of " + esc(name) + " first");
            old.at.offset = was.offset;
            ::lseek(old.fd.get(), static_cast<off_t>(was.offset), SEEK_SET);
            drain(old, true);
            if (stop_requested) {
                f = std::move(old);
                return;
            }
        } else {
            say(esc(f.path) + " was replaced while stopped and the old file is gone: lines after byte " +
                std::to_string(was.offset) + " of it are lost");
        }
        say("following " + esc(f.path) + " from its start");
        record(f);
    }

    // The file beside `path` (maillog.1, maillog-20240102, ...) with the old inode.
    bool find_rotated(const std::string& path, const Position& was, Followed& out, std::string& found) {
        auto slash = path.rfind('/');
        std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
        std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
        std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
        if (!d) return false;
        while (dirent* e = ::readdir(d.get())) {
            std::string name = e->d_name;
            if (name.rfind(base, 0) != 0 || name == base) continue;
            if (static_cast<std::uint64_t>(e->d_ino) != was.ino) continue;
            found = dir + "/" + name;
            if (!open_file(out, found)) continue;
            if (out.at.dev == was.dev && out.at.ino == was.ino && (was.hash == 0 || out.at.hash == was.hash))
                return true;
        }
        return false;
    }

    // Reads and handles the new lines of f; rotation and truncation.
    bool follow(Followed& f) {
        if (f.fd.get() < 0) {
            if (!open_path(f)) return false;
            say("following " + esc(f.path) + " from its start");
            record(f);
        }
        bool any = drain(f, false);
        if (stop_requested) return any;
        struct stat now {}, opened {};
        bool gone = ::stat(f.path.c_str(), &now) != 0;
        ::fstat(f.fd.get(), &opened);
        if (gone || static_cast<std::uint64_t>(now.st_ino) != f.at.ino ||
            static_cast<std::uint64_t>(now.st_dev) != f.at.dev) {
            // Rotated: what the old file still has, then the new one.
            any |= drain(f, true);
            if (gone || stop_requested) return any;
            if (!open_path(f)) return any;
            say(esc(f.path) + " was rotated: following the new file from its start");
            record(f);
            save(false);
            drain(f, false);
            return true;
        }
        bool resized = opened.st_size != f.last_size;
        f.last_size = opened.st_size;
        if (!resized) return any;
        if (static_cast<std::uint64_t>(opened.st_size) < f.at.offset + f.partial.size() ||
            (f.at.hash != 0 && opened.st_size > 0 && first_line_hash(f.fd.get()) != f.at.hash)) {
            // Truncated (copytruncate), or written over: from the start.
            say(esc(f.path) + " was truncated: from its start");
            ::lseek(f.fd.get(), 0, SEEK_SET);
            f.at.offset = 0;
            f.at.hash = first_line_hash(f.fd.get());
            f.partial.clear();
            f.skipping = false;
            record(f);
            save(false);
            drain(f, false);
            return true;
        }
        if (f.at.hash == 0 && opened.st_size > 0) f.at.hash = first_line_hash(f.fd.get());
        return any;
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
            catching_up_ = static_cast<std::size_t>(n) == sizeof buf;
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
                    if (!handle(text)) { // asked to stop while the store was away
                        record(f);
                        return any;
                    }
                    f.at.offset += text.size() + 1;
                    f.partial.clear();
                }
                data.remove_prefix(consumed);
                state_dirty(f);
                if (stop_requested) return any;
            }
        }
        if (closed && !f.partial.empty() && !f.skipping && !stop_requested && handle(f.partial)) {
            f.at.offset += f.partial.size();
            f.partial.clear();
        }
        record(f);
        if (saved_ != written_) save(false);
        return any;
    }

    void record(const Followed& f) { saved_[f.path] = f.at; }

    // After a handled line: the state is written after every login passed
    // to the store, or every 256 while catching up with a backlog; other
    // lines' progress is written when the file has been read to its end.
    void state_dirty(const Followed& f) {
        record(f);
        if (fed_since_save_ > 0 && (!catching_up_ || fed_since_save_ >= 256)) save(false);
    }

    void save(bool sync) {
        save_state(state_path_, saved_, sync);
        written_ = saved_;
        fed_since_save_ = 0;
    }

    // One line; false when it could not be passed to the store before a
    // stop was asked for (it is then read again next time).
    bool handle(std::string_view text) {
        parser_.set_reference(static_cast<std::int64_t>(std::time(nullptr)));
        parser_.parse(text, line_);
        if (line_.kind != ls::Kind::auth) return true;
        const ls::AuthRecord& a = line_.auth;
        if (a.source == ls::Source::authguard) return true; // the hooks' own decisions: counted by them
        if (!services_.empty() && !services_.count(std::string(a.service))) return true;
        ag::Event event;
        if (!ag::normalize_user(a.user, config_, event.user).empty()) return true;
        if (a.address.empty()) {
            event.address = std::string(ag::unknown_address);
        } else if (auto parsed = ag::parse_address(a.address)) {
            event.address = parsed->to_string();
        } else {
            return true;
        }
        if (a.source == ls::Source::qmail_smtpd) {
            // Accept::AUTH comes again with every RCPT of one session
            auto& s = sessions_[a.session];
            if (s.user == event.user && s.address == event.address && line_.time - s.time <= 3600) return true;
            s = Session{event.user, event.address, line_.time};
            if (sessions_.size() > 10000) sessions_.clear();
        }
        event.time = line_.time;
        event.outcome = a.outcome;
        event.service = std::string(a.service);
        for (std::uint32_t i = 0; i < a.attempts; ++i)
            if (!feed(event)) return false;
        return true;
    }

    // Into the store, until the store takes it; false when asked to stop first.
    bool feed(const ag::Event& event) {
        int delay_ms = 200;
        for (;;) {
            ag::Decision d = guard_.check(event);
            if (d.reason.rfind("store unavailable", 0) != 0) {
                ++events_;
                ++fed_since_save_;
                if (d.verdict != ag::Verdict::allow)
                    say(std::string(ag::to_string(d.verdict)) + " user=" + esc(event.user) + " address=" +
                        esc(event.address) + " time=" + std::to_string(event.time) +
                        (d.reason.empty() ? "" : " reason=\"" + esc(d.reason) + "\""));
                return true;
            }
            if (stop_requested) return false;
            say("store unavailable; trying again in " + std::to_string(delay_ms) + " ms");
            for (int waited = 0; waited < delay_ms && !stop_requested; waited += 50) ::usleep(50000);
            delay_ms = std::min(delay_ms * 2, 30000);
        }
    }

    struct Session {
        std::string user, address;
        std::int64_t time = 0;
    };

    const ag::Config& config_;
    std::unique_ptr<ag::Store> store_;
    ag::Logger logger_;
    ag::Guard guard_;
    ls::Parser parser_;
    ls::Line line_;
    std::string state_path_;
    bool from_start_;
    std::set<std::string> services_;
    std::vector<Followed> files_;
    std::map<std::string, Position> saved_;
    std::map<std::uint64_t, Session> sessions_;
    std::uint64_t events_ = 0;
    std::map<std::string, Position> written_; // what the state file holds
    std::uint64_t fed_since_save_ = 0;
    bool catching_up_ = false; // the last read filled the buffer: more is waiting
};

std::string default_state_path(const std::filesystem::path& control_dir) {
    std::filesystem::path dir = control_dir.lexically_normal();
    if (!dir.has_filename()) dir = dir.parent_path();
    return (dir.parent_path() / "authguard-follow.state").string();
}

} // namespace

void add_follow_options(po::options_description& d) {
    d.add_options()("state", po::value<std::string>()->value_name("FILE"),
                    "where the position in each file is kept (default: authguard-follow.state "
                    "beside the control directory)")(
        "from-start", po::bool_switch(), "a file without a saved position is read from its start")(
        "once", po::bool_switch(), "read what is there, save the position and exit")(
        "interval", po::value<int>()->default_value(250)->value_name("MS"),
        "how often to look for new lines, rotation and truncation")(
        "services", po::value<std::string>()->value_name("LIST"),
        "only logins of these services (submission,smtp,pop3,...): leave out those that already "
        "go through authguard-checkpw");
}

int cmd_follow(Context& ctx) {
    const ag::Config& config = ctx.config();
    std::string state = ctx.options.count("state") ? ctx.options["state"].as<std::string>()
                                                    : default_state_path(ctx.control_dir);
    int interval = ctx.options["interval"].as<int>();
    if (interval < 10 || interval > 60000) throw UsageError("--interval wants 10 to 60000 ms");
    std::set<std::string> services;
    if (ctx.options.count("services")) {
        std::string list = ctx.options["services"].as<std::string>();
        std::size_t start = 0;
        while (start <= list.size()) {
            auto comma = list.find(',', start);
            std::string one = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            if (!one.empty()) services.insert(one);
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
        if (services.empty()) throw UsageError("--services wants a list such as submission,smtp");
    }
    for (auto& path : ctx.args)
        if (path == "-") throw UsageError("follow reads files, not standard input");

    struct sigaction sa {};
    sa.sa_handler = request_stop;
    ::sigemptyset(&sa.sa_mask);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    Follower follower(config, state, ctx.options["from-start"].as<bool>(), services);
    for (auto& path : ctx.args) follower.add(path);
    follower.start();
    bool once = ctx.options["once"].as<bool>();
    while (!stop_requested) {
        bool any = follower.poll_once();
        if (once && !any) break;
        if (!any) ::poll(nullptr, 0, interval);
    }
    follower.finish();
    std::cout << "stopped after " << follower.events() << " logins" << std::endl;
    return exit_ok;
}

} // namespace authguardctl
