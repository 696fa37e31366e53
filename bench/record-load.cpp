// record-load - drives lib/record.lua on one Redis as fast as one pipelined
// connection can, with the exact commands authguard-checkpw sends (MULTI,
// EVALSHA, HGETALL of the history and of the lock, EXEC: see
// RedisStore::record), and prints events per second.
//
//   record-load (-s SOCKET | -t HOST:PORT) -f lib/record.lua [options]
//   -k PREFIX      key prefix (default "bench:")
//   -u USERS       distinct users, user00000@example.com ... (default 100000)
//   -a ADDRESSES   addresses per user (default 3)
//   -n EVENTS      events to send (default 200000)
//   -P DEPTH       commands in flight (default 32)
//   -m MODE        s (success, default) or f (failure, with a fingerprint)
//   -S SERVICE     the service word stored with each observation, " @SERVICE"
//                  (default "submission", as the hooks send; "" for none)
//
// Event i is user (i mod USERS) from that user's address number
// ((i / USERS) mod ADDRESSES). With at most 62500 users and 200 addresses
// each, that address is 10.<u/250>.<u%250>.<10+a> as in bench/auth-latency
// (so it can seed the users that program logs in); otherwise 10.x.y.z from a
// counter, so "-u 1 -a 100000" is one user attacked from 100000 addresses. Retentions are the
// defaults: 30 d successes, 1 d failures, 100 entries, 400 d locks.
#include <hiredis/hiredis.h>
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "record-load: %s\n", why.c_str());
    std::exit(1);
}

double now_s() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

} // namespace

int main(int argc, char** argv) {
    std::string sock, tcp, script_file, prefix = "bench:", mode = "s", service = "submission";
    long users = 100000, addresses = 3, events = 200000, depth = 32;
    for (int i = 1; i < argc; ++i) {
        std::string opt = argv[i];
        if (i + 1 >= argc) die("option " + opt + " needs a value");
        std::string v = argv[++i];
        if (opt == "-s")
            sock = v;
        else if (opt == "-t")
            tcp = v;
        else if (opt == "-f")
            script_file = v;
        else if (opt == "-k")
            prefix = v;
        else if (opt == "-m")
            mode = v;
        else if (opt == "-S")
            service = v;
        else if (opt == "-u")
            users = std::atol(v.c_str());
        else if (opt == "-a")
            addresses = std::atol(v.c_str());
        else if (opt == "-n")
            events = std::atol(v.c_str());
        else if (opt == "-P")
            depth = std::atol(v.c_str());
        else
            die("unknown option " + opt);
    }
    if ((sock.empty() == tcp.empty()) || script_file.empty()) die("need -s or -t, and -f");
    if (users < 1 || addresses < 1 || events < 1 || depth < 1) die("bad number");
    if (mode != "s" && mode != "f") die("-m is s or f");
    const bool same_scheme = users <= 62500 && addresses <= 200;

    std::ifstream in(script_file);
    if (!in) die("cannot read " + script_file);
    std::stringstream text;
    text << in.rdbuf();
    std::string script = text.str();

    redisContext* c = nullptr;
    if (!sock.empty())
        c = redisConnectUnix(sock.c_str());
    else {
        auto colon = tcp.rfind(':');
        c = redisConnect(tcp.substr(0, colon).c_str(), std::atoi(tcp.c_str() + colon + 1));
    }
    if (!c || c->err) die(std::string("cannot connect: ") + (c ? c->errstr : "out of memory"));

    auto* loaded =
        static_cast<redisReply*>(redisCommand(c, "SCRIPT LOAD %b", script.data(), script.size()));
    if (!loaded || loaded->type != REDIS_REPLY_STRING) die("SCRIPT LOAD failed");
    std::string sha(loaded->str, loaded->len);
    freeReplyObject(loaded);

    auto send = [&](long i) {
        long u = i % users, a = (i / users) % addresses;
        char user[64], address[64];
        std::snprintf(user, sizeof user, "user%05ld@example.com", u);
        if (same_scheme) { // bench/auth-latency's: each user's addresses in its own /24
            std::snprintf(address, sizeof address, "10.%ld.%ld.%ld", u / 250, u % 250, 10 + a);
        } else { // a distinct address per (user, address number)
            long n = u * addresses + a;
            std::snprintf(address, sizeof address, "10.%ld.%ld.%ld", (n >> 16) & 255,
                          (n >> 8) & 255, n & 255);
        }
        std::string key = prefix + "{" + user + "}", lock = key + ":lock", seen = key + ":seen";
        // As RedisStore::record sends it: "[fingerprint] [@service]".
        std::string fp = mode == "f" ? std::to_string(40000 + i % 20000) : "";
        if (!service.empty()) fp += (fp.empty() ? "@" : " @") + service;
        const char* args[] = {"EVALSHA",    sha.c_str(), "3",          key.c_str(), lock.c_str(),
                              seen.c_str(), "",          mode.c_str(), address,     fp.c_str(),
                              "2592000",    "86400",     "100",        "34560000"};
        constexpr int count = sizeof args / sizeof args[0];
        std::size_t lens[count];
        for (int j = 0; j < count; ++j)
            lens[j] = std::strlen(args[j]);
        redisAppendCommand(c, "MULTI");
        if (redisAppendCommandArgv(c, count, args, lens) != REDIS_OK) die("append failed");
        redisAppendCommand(c, "HGETALL %b", key.data(), key.size());
        redisAppendCommand(c, "HGETALL %b", lock.data(), lock.size());
        redisAppendCommand(c, "EXEC");
    };

    long sent = 0, received = 0, errors = 0;
    double start = now_s();
    while (sent < events && sent < depth)
        send(sent++);
    while (received < events) {
        void* r = nullptr;
        for (int queued = 0; queued < 4; ++queued) { // MULTI's OK, then QUEUED three times
            if (redisGetReply(c, &r) != REDIS_OK || !r) die(std::string("reply: ") + c->errstr);
            auto* status = static_cast<redisReply*>(r);
            if (status->type == REDIS_REPLY_ERROR) die(std::string("reply: ") + status->str);
            freeReplyObject(status);
        }
        if (redisGetReply(c, &r) != REDIS_OK || !r) die(std::string("reply: ") + c->errstr);
        auto* reply = static_cast<redisReply*>(r);
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
            reply->element[0]->type == REDIS_REPLY_ERROR) {
            if (++errors == 1)
                std::fprintf(stderr, "record-load: unexpected reply: %s\n",
                             reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                                     reply->element[0]->type == REDIS_REPLY_ERROR
                                 ? reply->element[0]->str
                                 : "(not an array of 3)");
        }
        freeReplyObject(reply);
        ++received;
        if (sent < events) send(sent++);
    }
    double elapsed = now_s() - start;
    redisFree(c);
    std::printf("%ld events in %.3f s: %.0f events/s (%ld users, %ld addresses each, mode %s, "
                "%ld in flight, %ld errors)\n",
                events, elapsed, static_cast<double>(events) / elapsed, users, addresses,
                mode.c_str(), depth, errors);
    return errors ? 1 : 0;
}
