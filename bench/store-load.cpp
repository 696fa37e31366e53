// store-load - per-event wall time and throughput of the store a control
// directory names (the embedded LMDB store or Redis), driven through
// authguard::Store::record() exactly as the hooks call it: W writer
// processes at once, each with its own store (its own LMDB environment or
// Redis connection, as each qmail-smtpd's hook has), started together.
//
//   store-load --control DIR [-w WRITERS] [-n EVENTS] [-u USERS] [-a ADDRESSES]
//   -w WRITERS    processes writing at once (default 1)
//   -n EVENTS     events per writer (default 10000)
//   -u USERS      distinct users, user00000@example.com ... (default 100000)
//   -a ADDRESSES  addresses per user (default 3)
//
// Event k = w * EVENTS + i (writer w's i-th) is user ((k * 48271) mod USERS),
// so that users arrive in a scattered order as in life (every user once per
// USERS events while 48271 and USERS have no common factor), from that
// user's address number ((k / USERS) mod ADDRESSES):
// 10.<u/250%250>.<u%250>.<10+k>, a successful login at the store's clock.
// Prints: store, writers, events, events/s over the whole run (first start
// to last finish), and the per-event wall time (median, p90, p99, max) over
// every event of every writer.
#include "authguard/config.hpp"
#include "authguard/store.hpp"

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "store-load: %s\n", why.c_str());
    std::exit(1);
}

std::int64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool read_all(int fd, void* buf, std::size_t n) {
    auto* p = static_cast<char*>(buf);
    while (n > 0) {
        ssize_t r = ::read(fd, p, n);
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

bool write_all(int fd, const void* buf, std::size_t n) {
    const auto* p = static_cast<const char*>(buf);
    while (n > 0) {
        ssize_t r = ::write(fd, p, n);
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

struct Report {
    std::int64_t start = 0, end = 0, failed = 0;
};

} // namespace

int main(int argc, char** argv) {
    std::string control;
    long writers = 1, events = 10000, users = 100000, addresses = 3;
    for (int i = 1; i < argc; ++i) {
        std::string opt = argv[i];
        if (i + 1 >= argc) die("option " + opt + " needs a value");
        std::string v = argv[++i];
        if (opt == "--control") control = v;
        else if (opt == "-w") writers = std::atol(v.c_str());
        else if (opt == "-n") events = std::atol(v.c_str());
        else if (opt == "-u") users = std::atol(v.c_str());
        else if (opt == "-a") addresses = std::atol(v.c_str());
        else die("unknown option " + opt);
    }
    if (control.empty() || writers < 1 || events < 1 || users < 1 || addresses < 1)
        die("usage: store-load --control DIR [-w WRITERS] [-n EVENTS] [-u USERS] [-a ADDRESSES]");
    const authguard::Config config = authguard::load_config(control);
    const char* kind = config.store.kind == authguard::StoreConfig::Kind::lmdb ? "lmdb" : "redis";

    int go[2];
    if (::pipe(go) != 0) die("pipe");
    struct Child {
        pid_t pid;
        int fd;
    };
    std::vector<Child> children;
    for (long w = 0; w < writers; ++w) {
        int out[2];
        if (::pipe(out) != 0) die("pipe");
        pid_t pid = ::fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            ::close(go[1]);
            ::close(out[0]);
            auto store = authguard::open_store(config);
            std::vector<std::uint32_t> samples(static_cast<std::size_t>(events));
            authguard::Event e;
            e.service = "submission";
            try { // open the environment / connect before the start
                e.user = "warmup-" + std::to_string(w);
                e.address = "192.0.2.1";
                store->record(e, true);
            } catch (const authguard::StoreError& err) {
                die(err.what());
            }
            char byte;
            [[maybe_unused]] auto n = ::read(go[0], &byte, 1); // wait for the start (EOF)
            Report report;
            report.start = now_ns();
            char user[48], address[48];
            for (long i = 0; i < events; ++i) {
                long k = w * events + i, a = (k / users) % addresses;
                long u = static_cast<long>((static_cast<unsigned long long>(k) * 48271ULL) %
                                           static_cast<unsigned long long>(users));
                std::snprintf(user, sizeof user, "user%05ld@example.com", u);
                std::snprintf(address, sizeof address, "10.%ld.%ld.%ld", (u / 250) % 250, u % 250, 10 + a);
                e.user = user;
                e.address = address;
                std::int64_t t0 = now_ns();
                try {
                    store->record(e, true);
                } catch (const authguard::StoreError&) {
                    ++report.failed;
                }
                samples[static_cast<std::size_t>(i)] = static_cast<std::uint32_t>(
                    std::min<std::int64_t>(now_ns() - t0, UINT32_MAX));
            }
            report.end = now_ns();
            bool ok = write_all(out[1], &report, sizeof report) &&
                      write_all(out[1], samples.data(), samples.size() * sizeof samples[0]);
            ::_exit(ok ? 0 : 1);
        }
        ::close(out[1]);
        children.push_back({pid, out[0]});
    }
    ::close(go[0]);
    ::usleep(200000); // every writer opened its store
    ::close(go[1]);   // go

    std::vector<std::uint32_t> all;
    std::int64_t first = INT64_MAX, last = 0, failed = 0;
    for (auto& c : children) {
        Report r;
        std::vector<std::uint32_t> samples(static_cast<std::size_t>(events));
        if (!read_all(c.fd, &r, sizeof r) ||
            !read_all(c.fd, samples.data(), samples.size() * sizeof samples[0]))
            die("a writer did not report");
        ::close(c.fd);
        int status = 0;
        ::waitpid(c.pid, &status, 0);
        first = std::min(first, r.start);
        last = std::max(last, r.end);
        failed += r.failed;
        all.insert(all.end(), samples.begin(), samples.end());
    }
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
        return static_cast<double>(all[std::min(all.size() - 1, static_cast<std::size_t>(p * all.size()))]) / 1000.0;
    };
    double seconds = static_cast<double>(last - first) / 1e9;
    std::printf("store=%s writers=%ld events=%zu failed=%lld: %.0f events/s; per event median %.1f us, "
                "p90 %.1f us, p99 %.1f us, max %.1f us\n",
                kind, writers, all.size(), static_cast<long long>(failed),
                static_cast<double>(all.size()) / seconds, pct(0.5), pct(0.9), pct(0.99),
                static_cast<double>(all.back()) / 1000.0);
    return failed == 0 ? 0 : 1;
}
