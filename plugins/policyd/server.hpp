// server.hpp - authguard-policyd's event loop: listeners, connections, a
// fixed pool of workers.
//
// One thread reads and writes every connection (epoll, non-blocking) and
// parses the protocols; complete requests go to a small fixed pool of
// workers, each with its own store connection, so that one slow store call
// holds up one worker, never the loop or the other clients. A connection
// has at most one request in flight (Postfix and Dovecot wait for each
// answer), so answers come back in order.
#pragma once
#include "authguard/config.hpp"
#include "authguard/fd.hpp"
#include "authguard/log.hpp"

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace authguard::policyd {

enum class Protocol { postfix, dovecot };

struct Listener {
    Fd fd;
    Protocol protocol = Protocol::postfix;
    std::string name; // for log lines: "unix:/path", "tcp:127.0.0.1:10031", "systemd:postfix"
};

struct ListenOptions {
    mode_t unix_mode = 0660;
    gid_t unix_group = static_cast<gid_t>(-1); // -1: the daemon's own
};

// An address that is not one (a usage error, unlike a socket that cannot
// be opened).
struct ListenSyntaxError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// "unix:/path", "tcp:HOST:PORT", "tcp:[V6]:PORT" (inet: as Postfix writes
// it, too). Throws ListenSyntaxError for a malformed address, else
// std::runtime_error with what went wrong.
Listener listen_on(const std::string& spec, Protocol protocol, const ListenOptions& options);
// The sockets systemd passed (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES): a
// name "dovecot" speaks Dovecot's protocol, any other Postfix's.
std::vector<Listener> inherited_listeners();

struct ServerOptions {
    int workers = 4;
    std::chrono::seconds idle_timeout{600}; // a connection quiet this long is closed
    long max_requests = 100000;             // per connection; then it is closed
    int max_connections = 1000;
    std::size_t max_request_bytes = 65536;
    std::filesystem::path control_dir;
    bool spawn = false; // one Postfix connection on fds 0 and 1 (spawn(8)); exit at its end
    // Set by serve(): the kind of store the pool was sized for.
    StoreConfig::Kind store_kind = StoreConfig::Kind::redis;
};

// Runs until SIGTERM or SIGINT (or, in spawn mode, the connection's end).
// Returns the exit code.
int serve(std::vector<Listener> listeners, const ServerOptions& options, Logger& logger);

} // namespace authguard::policyd
