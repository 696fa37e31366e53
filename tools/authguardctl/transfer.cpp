// transfer.cpp - authguardctl export, import and gc: moving every user's
// state between stores (Redis to the embedded LMDB store and back) as JSON
// lines, and collecting the LMDB store's expired keys.
//
// One line per user, in the format of include/authguard/dump.hpp (written
// and read by lib/dump.cpp). A *_ttl is the seconds the key has left, so
// that a copy ages as the original would, whichever clock the other store
// runs on. Strings may hold any bytes: valid UTF-8 is written as is, any
// other byte as \u00XX, which import reads back as that byte, so user names
// of any bytes survive the round trip.
#include "ctl.hpp"

#include "authguard/dump.hpp"
#include "authguard/lmdb_store.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <variant>

namespace authguardctl {

namespace ag = authguard;

namespace {

// One line per user, as lib/dump.cpp writes it.
void print_dump(const ag::UserDump& d) {
    std::cout << ag::format_dump(d) << '\n';
}

} // namespace

int cmd_export(Context& ctx) {
    ag::Store& store = ctx.store();
    std::vector<std::string> users;
    if (ctx.args.empty()) {
        users = store.users();
    } else {
        for (std::size_t i = 0; i < ctx.args.size(); ++i) users.push_back(ctx.user_arg(i));
    }
    std::size_t written = 0;
    for (auto& user : users) {
        ag::UserDump d = store.dump(user);
        if (d.history.observations.empty() && d.history.dropped == 0 && !d.history.lock &&
            d.rate.empty())
            continue; // expired since users() listed it, or never there
        print_dump(d);
        ++written;
    }
    if (!ctx.args.empty() && written == 0) throw NotFound("nothing stored for the users given");
    return exit_ok;
}

int cmd_import(Context& ctx) {
    std::string path = ctx.args.empty() ? "-" : ctx.args[0];
    std::ifstream file;
    std::istream* in = &std::cin;
    if (path != "-") {
        file.open(path);
        if (!file) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
        in = &file;
    }
    // Every line is read and checked first: a bad file changes nothing.
    std::vector<ag::UserDump> dumps;
    std::string line;
    for (int number = 1; std::getline(*in, line); ++number) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        try {
            dumps.push_back(ag::parse_dump(line));
        } catch (const std::exception& e) {
            throw UsageError(path + ":" + std::to_string(number) + ": " + e.what());
        }
    }
    ag::Store& store = ctx.store();
    std::int64_t locks = 0, observations = 0;
    for (auto& d : dumps) {
        store.restore(d);
        locks += d.history.lock ? 1 : 0;
        observations += static_cast<std::int64_t>(d.history.observations.size());
    }
    if (ctx.json) {
        Json j;
        j.begin_object().key("users").value(static_cast<std::int64_t>(dumps.size()));
        j.key("locks").value(locks).key("observations").value(observations).end_object();
        print_json(j);
    } else {
        std::cout << "imported " << dumps.size() << " users (" << observations
                  << " observations, " << locks << " locks)\n";
    }
    return exit_ok;
}

int cmd_gc(Context& ctx) {
    const ag::Config& config = ctx.config();
    auto* lmdb = dynamic_cast<ag::LmdbStore*>(&ctx.store());
    if (!lmdb) {
        if (ctx.json) {
            Json j;
            j.begin_object().key("store").value("redis").key("removed").value(0).end_object();
            print_json(j);
        } else {
            std::cout << "nothing to do: Redis expires authguard's keys itself\n";
        }
        return exit_ok;
    }
    auto before = lmdb->usage();
    auto r = lmdb->gc();
    auto after = lmdb->usage();
    if (ctx.json) {
        Json j;
        j.begin_object().key("store").value("lmdb").key("path").value(config.store.lmdb_path);
        j.key("keys").value(r.keys).key("removed").value(r.removed);
        j.key("stale_readers").value(r.stale_readers);
        j.key("used_bytes_before").value(before.used_bytes).key("used_bytes").value(after.used_bytes);
        j.key("tree_bytes").value(after.tree_bytes).key("file_bytes").value(after.file_bytes);
        j.end_object();
        print_json(j);
    } else {
        std::cout << "lmdb " << esc(config.store.lmdb_path) << ": " << r.removed
                  << " expired keys removed of " << r.keys << "; data " << after.tree_bytes
                  << " bytes, file " << after.file_bytes << " bytes (free pages are reused)\n";
    }
    return exit_ok;
}

} // namespace authguardctl
