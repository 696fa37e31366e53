// auth-latency - wall time of one AUTH check as qmail-smtpd pays it: a fresh
// fd-3 pipe holding user\0password\0Y123456\0, one spawn of the checkpassword
// chain, wait for its exit. Several chains ("variants") run interleaved, one
// run of each per round, the order rotating every round, so that whatever
// else the machine does hits them all alike. Timed with CLOCK_MONOTONIC from
// the pipe's creation to waitpid's return.
//
//   auth-latency [options] --variant NAME[:CODE] [VAR=value ...] program [args ...]
//                          [--variant ...]
// CODE is the exit code every run of that variant must give (default 0);
// any other makes the summary say UNEXPECTED and the exit status 1.
//   -n RUNS        measured rounds (default 1000)
//   -w RUNS        warm-up rounds, not measured (default 20)
//   -u USERS       distinct users, user00000@example.com ... (default 2000)
//   -a ADDRESSES   addresses per user, all in one /24 (default 3)
//   -f OCTET       the addresses' first octet (default 10; 126 puts them in
//                  SoftBank's AS17676, so that an asn-db lookup finds one)
//   -p PASSWORD    the password sent (default "secret")
//   -e VAR=value   environment for every variant (repeatable)
//   -c BASE:OTHER  also report OTHER minus BASE, paired per round (repeatable)
//   -o FILE        raw samples as TSV: variant, round, nanoseconds, exit code
//
// Round i logs in user (i mod USERS) from address number ((i / USERS) mod
// ADDRESSES) of that user: TCPREMOTEIP=OCTET.<u/250>.<u%250>.<10+k>. Every child
// gets PATH=/usr/bin:/bin, TCPLOCALPORT=587, TCPREMOTEIP, then the -e and the
// variant's own VAR=value settings; stdout and stderr go to /dev/null.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

struct Variant {
    std::string name;
    std::vector<std::string> env;  // VAR=value, added to the common ones
    std::vector<std::string> argv; // program and arguments
    std::vector<std::int64_t> ns;  // one per measured round
    std::map<int, int> exits;      // exit code (or 1000 + signal) -> count
    int expected = 0;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "auth-latency: %s\n(see the comment at the top of bench/auth-latency.cpp)\n", why);
    std::exit(2);
}

std::int64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<std::int64_t>& sorted, double p) {
    if (sorted.empty()) return 0;
    auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    if (rank < 1) rank = 1;
    return static_cast<double>(sorted[std::min(rank, sorted.size()) - 1]);
}

double median(std::vector<std::int64_t> v) {
    std::sort(v.begin(), v.end());
    if (v.empty()) return 0;
    std::size_t n = v.size();
    return n % 2 ? static_cast<double>(v[n / 2])
                 : (static_cast<double>(v[n / 2 - 1]) + static_cast<double>(v[n / 2])) / 2;
}

double ms(double ns) {
    return ns / 1e6;
}

// One run of a variant: returns the elapsed nanoseconds; stores the exit code.
std::int64_t run_once(const Variant& v, const std::vector<std::string>& common_env,
                      const std::string& user, const std::string& password,
                      const std::string& address, int& exit_code) {
    std::vector<std::string> env{"PATH=/usr/bin:/bin", "TCPLOCALPORT=587",
                                 "TCPREMOTEIP=" + address};
    env.insert(env.end(), common_env.begin(), common_env.end());
    env.insert(env.end(), v.env.begin(), v.env.end());
    std::vector<char*> envp, argv;
    for (auto& e : env)
        envp.push_back(e.data());
    envp.push_back(nullptr);
    for (auto& a : v.argv)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);

    std::string input = user;
    input += '\0';
    input += password;
    input += '\0';
    input += "Y123456";
    input += '\0';

    std::int64_t start = now_ns();
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        std::perror("pipe2");
        std::exit(1);
    }
    // Well under any pipe buffer: never blocks.
    if (::write(fds[1], input.data(), input.size()) != static_cast<ssize_t>(input.size())) {
        std::perror("write");
        std::exit(1);
    }
    ::close(fds[1]);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 3);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = 0;
    int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[0]);
    if (rc != 0) {
        std::fprintf(stderr, "auth-latency: cannot run %s: %s\n", argv[0], std::strerror(rc));
        std::exit(1);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            std::perror("waitpid");
            std::exit(1);
        }
    }
    std::int64_t elapsed = now_ns() - start;
    exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
    return elapsed;
}

} // namespace

int main(int argc, char** argv) {
    long runs = 1000, warmup = 20, users = 2000, addresses = 3, first_octet = 10;
    std::string password = "secret", raw_file;
    std::vector<std::string> common_env;
    std::vector<std::pair<std::string, std::string>> compares;
    std::vector<Variant> variants;

    int i = 1;
    auto value = [&](const char* opt) -> std::string {
        if (i + 1 >= argc) usage((std::string(opt) + " needs a value").c_str());
        return argv[++i];
    };
    auto number = [&](const char* opt) {
        std::string s = value(opt);
        char* end = nullptr;
        long n = std::strtol(s.c_str(), &end, 10);
        if (!end || *end || n < 0) usage((std::string("bad number for ") + opt).c_str());
        return n;
    };
    for (; i < argc && std::strcmp(argv[i], "--variant") != 0; ++i) {
        std::string opt = argv[i];
        if (opt == "-n")
            runs = number("-n");
        else if (opt == "-w")
            warmup = number("-w");
        else if (opt == "-u")
            users = number("-u");
        else if (opt == "-a")
            addresses = number("-a");
        else if (opt == "-f")
            first_octet = number("-f");
        else if (opt == "-p")
            password = value("-p");
        else if (opt == "-e")
            common_env.push_back(value("-e"));
        else if (opt == "-o")
            raw_file = value("-o");
        else if (opt == "-c") {
            std::string c = value("-c");
            auto colon = c.find(':');
            if (colon == std::string::npos) usage("-c wants BASE:OTHER");
            compares.emplace_back(c.substr(0, colon), c.substr(colon + 1));
        } else
            usage(("unknown option " + opt).c_str());
    }
    while (i < argc) { // at "--variant"
        if (i + 1 >= argc) usage("--variant needs a name");
        Variant v;
        v.name = argv[i + 1];
        if (auto colon = v.name.find(':'); colon != std::string::npos) {
            v.expected = std::atoi(v.name.c_str() + colon + 1);
            v.name.resize(colon);
        }
        i += 2;
        for (; i < argc && std::strcmp(argv[i], "--variant") != 0; ++i) {
            if (v.argv.empty() && std::strchr(argv[i], '=') && argv[i][0] != '/')
                v.env.push_back(argv[i]);
            else
                v.argv.push_back(argv[i]);
        }
        if (v.argv.empty()) usage(("variant " + v.name + " has no program").c_str());
        variants.push_back(std::move(v));
    }
    if (variants.empty()) usage("no --variant given");
    if (users < 1 || addresses < 1 || addresses > 200 || users > 62500) usage("bad -u or -a");
    if (first_octet < 1 || first_octet > 223) usage("bad -f");
    auto find = [&](const std::string& name) -> Variant* {
        for (auto& v : variants)
            if (v.name == name) return &v;
        usage(("no variant named " + name).c_str());
    };
    for (auto& [a, b] : compares)
        find(a), find(b);

    // Keep fds 0-3 occupied so that no pipe end is fd 3 itself.
    for (int fd = 0; fd <= 3; ++fd)
        if (::fcntl(fd, F_GETFD) < 0) ::open("/dev/null", O_RDWR);

    std::FILE* raw = nullptr;
    if (!raw_file.empty()) {
        raw = std::fopen(raw_file.c_str(), "w");
        if (!raw) usage(("cannot write " + raw_file).c_str());
        std::fprintf(raw, "variant\tround\tns\texit\n");
    }

    const std::size_t k = variants.size();
    for (long round = 0; round < warmup + runs; ++round) {
        long u = round % users, a = (round / users) % addresses;
        char user[64], address[64];
        std::snprintf(user, sizeof user, "user%05ld@example.com", u);
        std::snprintf(address, sizeof address, "%ld.%ld.%ld.%ld", first_octet, u / 250, u % 250,
                      10 + a);
        for (std::size_t j = 0; j < k; ++j) {
            Variant& v = variants[(j + static_cast<std::size_t>(round)) % k];
            int code = 0;
            std::int64_t t = run_once(v, common_env, user, password, address, code);
            if (round < warmup) continue;
            v.ns.push_back(t);
            ++v.exits[code];
            if (raw)
                std::fprintf(raw, "%s\t%ld\t%lld\t%d\n", v.name.c_str(), round - warmup,
                             static_cast<long long>(t), code);
        }
    }
    if (raw) std::fclose(raw);

    bool unexpected = false;
    std::printf("%-22s %6s %9s %9s %9s %9s  %s\n", "variant", "runs", "median", "p90", "p99",
                "mean", "exit codes");
    for (auto& v : variants) {
        auto sorted = v.ns;
        std::sort(sorted.begin(), sorted.end());
        double sum = 0;
        for (auto t : sorted)
            sum += static_cast<double>(t);
        std::string exits;
        for (auto [code, count] : v.exits)
            exits +=
                (exits.empty() ? "" : " ") + std::to_string(code) + "x" + std::to_string(count);
        if (v.exits.size() != 1 || v.exits.begin()->first != v.expected) {
            exits += "  UNEXPECTED (want " + std::to_string(v.expected) + ")";
            unexpected = true;
        }
        std::printf("%-22s %6zu %6.3f ms %6.3f ms %6.3f ms %6.3f ms  %s\n", v.name.c_str(),
                    sorted.size(), ms(median(sorted)), ms(percentile(sorted, 0.90)),
                    ms(percentile(sorted, 0.99)), ms(sum / static_cast<double>(sorted.size())),
                    exits.c_str());
    }
    for (auto& [a, b] : compares) {
        Variant &base = *find(a), &other = *find(b);
        std::vector<std::int64_t> diff;
        for (std::size_t r = 0; r < base.ns.size(); ++r)
            diff.push_back(other.ns[r] - base.ns[r]);
        double mb = median(base.ns), mo = median(other.ns);
        std::printf("%s - %s: median of paired differences %+.3f ms, difference of medians "
                    "%+.3f ms, ratio of medians %.2f\n",
                    b.c_str(), a.c_str(), ms(median(diff)), ms(mo - mb), mb > 0 ? mo / mb : 0.0);
    }
    return unexpected ? 1 : 0;
}
