// authguard-policyd - the detector as a long-running policy daemon, for
// Postfix (check_policy_service: unix socket, TCP, or spawn(8) on stdin and
// stdout) and Dovecot (auth_policy_server_url: HTTP + JSON), on the same
// store and control file as the qmail hooks.
//
//   authguard-policyd --postfix unix:/var/spool/postfix/private/authguard
//                     --dovecot tcp:127.0.0.1:10032   (one command line)
//
// This file only reads the command line and opens the listeners; the loop
// is server.cpp, the protocols lib/policy, the policy the detector's.
// Exit codes: 0 stopped by SIGTERM or SIGINT (or, in spawn mode, the
// connection's end); 2 usage; 3 a listener cannot be opened; 5 any other
// failure.
#include "server.hpp"

#include "authguard/config.hpp"
#include "authguard/log.hpp"
#include "authguard/version.hpp"

#include <boost/program_options.hpp>
#include <grp.h>
#include <iostream>
#include <sstream>

namespace ag = authguard;
namespace po = boost::program_options;

namespace {

constexpr int exit_usage = 2, exit_listen = 3, exit_failure = 5;

constexpr char usage[] =
    "usage: authguard-policyd [--postfix unix:PATH|tcp:HOST:PORT]... [--dovecot tcp:HOST:PORT]...\n"
    "                         [--spawn] [options]\n"
    "A policy daemon: Postfix's policy delegation and Dovecot's authentication policy,\n"
    "answered by authguard's detector and store (control/authguard). Sockets may also come\n"
    "from systemd (LISTEN_FDS; a socket named \"dovecot\" speaks Dovecot's protocol).\n"
    "See authguard-policyd(8).\n";

int run(int argc, char** argv) {
    po::options_description d("options");
    auto add = d.add_options();
    add("postfix", po::value<std::vector<std::string>>()->value_name("ADDR"),
        "serve Postfix's policy protocol on unix:/PATH or tcp:HOST:PORT (repeatable)");
    add("dovecot", po::value<std::vector<std::string>>()->value_name("ADDR"),
        "serve Dovecot's auth policy (HTTP) on tcp:HOST:PORT or unix:/PATH (repeatable)");
    add("spawn", po::bool_switch(),
        "one Postfix policy connection on stdin and stdout (Postfix's spawn(8)), then exit");
    add("workers", po::value<int>()->default_value(4)->value_name("N"),
        "worker threads, each with its own store connection (1-64; 1 with the LMDB store)");
    add("idle-timeout", po::value<int>()->default_value(600)->value_name("SECONDS"),
        "close a connection quiet this long (Postfix's own limit is 300 s)");
    add("max-requests", po::value<long>()->default_value(100000)->value_name("N"),
        "requests per connection, then it is closed (the client reconnects)");
    add("max-connections", po::value<int>()->default_value(1000)->value_name("N"),
        "connections at once; more are closed at once, and logged");
    add("socket-mode", po::value<std::string>()->default_value("0660")->value_name("OCTAL"),
        "mode of the unix sockets");
    add("socket-group", po::value<std::string>()->value_name("GROUP"),
        "group of the unix sockets (Postfix's smtpd runs as postfix)");
    add("control", po::value<std::string>()->value_name("DIR"),
        "the control directory (default $AUTHGUARD_CONTROL, else /var/qmail/control)");
    if (ag::help_asked(argc, argv)) {
        std::ostringstream text;
        text << usage << "\n" << d;
        return ag::print_help(text.str().c_str());
    }
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(d).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "authguard-policyd: " << e.what() << "\n" << usage;
        return exit_usage;
    }
    auto usage_error = [&](const std::string& what) {
        std::cerr << "authguard-policyd: " << what << "\n" << usage;
        return exit_usage;
    };

    ag::policyd::ServerOptions options;
    options.spawn = vm["spawn"].as<bool>();
    options.workers = vm["workers"].as<int>();
    if (options.workers < 1 || options.workers > 64) return usage_error("--workers: 1-64");
    int idle = vm["idle-timeout"].as<int>();
    if (idle < 1) return usage_error("--idle-timeout: at least 1 second");
    options.idle_timeout = std::chrono::seconds(idle);
    options.max_requests = vm["max-requests"].as<long>();
    if (options.max_requests < 1) return usage_error("--max-requests: at least 1");
    options.max_connections = vm["max-connections"].as<int>();
    if (options.max_connections < 1) return usage_error("--max-connections: at least 1");
    options.control_dir = vm.count("control")
                              ? std::filesystem::path(vm["control"].as<std::string>())
                              : ag::default_control_dir();

    ag::policyd::ListenOptions listen;
    const std::string mode = vm["socket-mode"].as<std::string>();
    char* end = nullptr;
    long parsed_mode = std::strtol(mode.c_str(), &end, 8);
    if (mode.empty() || *end || parsed_mode < 0 || parsed_mode > 0777)
        return usage_error("--socket-mode '" + mode + "': an octal mode such as 0660");
    listen.unix_mode = static_cast<mode_t>(parsed_mode);
    if (vm.count("socket-group")) {
        std::string name = vm["socket-group"].as<std::string>();
        struct group* g = ::getgrnam(name.c_str());
        if (!g) return usage_error("--socket-group '" + name + "': no such group");
        listen.unix_group = g->gr_gid;
    }

    std::vector<ag::policyd::Listener> listeners = ag::policyd::inherited_listeners();
    try {
        for (const char* key : {"postfix", "dovecot"}) {
            if (!vm.count(key)) continue;
            auto protocol = std::string(key) == "postfix" ? ag::policyd::Protocol::postfix
                                                          : ag::policyd::Protocol::dovecot;
            for (const auto& spec : vm[key].as<std::vector<std::string>>())
                listeners.push_back(ag::policyd::listen_on(spec, protocol, listen));
        }
    } catch (const ag::policyd::ListenSyntaxError& e) {
        return usage_error(e.what());
    } catch (const std::exception& e) {
        std::cerr << "authguard-policyd: " << e.what() << "\n";
        return exit_listen;
    }
    if (listeners.empty() && !options.spawn)
        return usage_error("nothing to serve: give --postfix, --dovecot or --spawn");
    if (options.spawn && !listeners.empty())
        return usage_error("--spawn serves stdin and stdout only");

    ag::Logger logger;
    return ag::policyd::serve(std::move(listeners), options, logger);
}

} // namespace

int main(int argc, char** argv) {
    if (ag::version_asked(argc, argv)) return ag::print_version("authguard-policyd");
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "authguard-policyd: " << e.what() << "\n";
        return exit_failure;
    }
}
