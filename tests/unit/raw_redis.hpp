// raw_redis.hpp - a plain hiredis connection for the unit tests that look
// behind the Redis store's back (its keys, TTLs, the record script's index)
// or change what it finds there. The test Redis is $AUTHGUARD_TEST_REDIS
// (a unix socket, started by tests/run-all).
#pragma once

#include <hiredis/hiredis.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace authguard::testing {

inline const char* test_redis_socket() {
    return std::getenv("AUTHGUARD_TEST_REDIS");
}

class RawRedis {
  public:
    // The reply as text: an integer, a string (a status or an error too),
    // or an array's elements joined by ' '; "" for nil.
    std::string run(const std::vector<std::string>& argv) {
        Reply r = command(argv);
        std::string out;
        if (!r) return "(no reply)";
        if (r->type == REDIS_REPLY_INTEGER)
            out = std::to_string(r->integer);
        else if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
                 r->type == REDIS_REPLY_ERROR)
            out.assign(r->str, r->len);
        else if (r->type == REDIS_REPLY_ARRAY)
            for (std::size_t i = 0; i < r->elements; ++i)
                out += (i ? " " : "") + std::string(r->element[i]->str, r->element[i]->len);
        return out;
    }
    // An integer reply; -1 for any other.
    long long integer(const std::vector<std::string>& argv) {
        Reply r = command(argv);
        return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    }
    // Deletes every key starting with prefix (the whole keyspace walked:
    // one SCAN step may find none of them in a large database).
    void clear(const std::string& prefix) {
        std::string cursor = "0";
        do {
            std::vector<std::string> keys{"DEL"};
            Reply r = command({"SCAN", cursor, "MATCH", prefix + "*", "COUNT", "10000"});
            if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return;
            cursor.assign(r->element[0]->str, r->element[0]->len);
            for (std::size_t i = 0; i < r->element[1]->elements; ++i)
                keys.emplace_back(r->element[1]->element[i]->str, r->element[1]->element[i]->len);
            if (keys.size() > 1) run(keys);
        } while (cursor != "0");
    }

  private:
    struct FreeReply {
        void operator()(redisReply* r) const { freeReplyObject(r); }
    };
    using Reply = std::unique_ptr<redisReply, FreeReply>;
    Reply command(const std::vector<std::string>& argv) {
        std::vector<const char*> p;
        std::vector<size_t> l;
        for (auto& a : argv) {
            p.push_back(a.data());
            l.push_back(a.size());
        }
        return Reply(static_cast<redisReply*>(
            redisCommandArgv(c_.get(), static_cast<int>(argv.size()), p.data(), l.data())));
    }
    std::unique_ptr<redisContext, void (*)(redisContext*)> c_{redisConnectUnix(test_redis_socket()),
                                                              redisFree};
};

} // namespace authguard::testing
