// policy_service_test.cpp - lib/policy/service: Postfix and Dovecot requests
// judged by the Guard, on the in-memory store: what counts as a login, when
// a lock answers, what is counted once.
#include "authguard/memory_store.hpp"
#include "authguard/policy/service.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

using namespace authguard;
using namespace authguard::policy;

namespace {

struct Fixture {
    testing::TempDir dir;
    Config config = [] {
        Config c;
        c.clock_from_store = false; // the local clock: the memory store keeps none
        return c;
    }();
    MemoryStore store{config};
    Logger logger{(dir.path() / "log").string(), (dir.path() / "no-syslog").string()};
    SessionMemory memory;
    Service service{config, store, logger, memory};

    std::string postfix(const std::string& user, const std::string& address,
                        const std::string& port = "40000", const std::string& state = "RCPT",
                        const std::string& recipients = "0") {
        PostfixRequest r;
        r.attributes = {{"request", "smtpd_access_policy"}, {"protocol_state", state},
                        {"client_address", address},        {"client_port", port},
                        {"server_address", "127.0.0.1"},    {"server_port", "587"},
                        {"recipient_count", recipients},    {"sasl_username", user}};
        return service.answer_postfix(r);
    }
    DovecotAnswer dovecot(DovecotCommand command, const std::string& login,
                          const std::string& remote, std::optional<bool> success = std::nullopt,
                          const std::string& protocol = "imap", bool policy_reject = false) {
        DovecotRequest r;
        r.command = command;
        r.login = login;
        r.remote = remote;
        r.protocol = protocol;
        r.pwhash = "0b11";
        r.success = success;
        r.policy_reject = policy_reject;
        return service.answer_dovecot(r);
    }
    std::size_t networks(const std::string& user) { return store.load(user).observations.size(); }
    bool locked(const std::string& user) { return store.load(user).lock.has_value(); }
    MessageCounts counts(const std::string& user) {
        return store.count_message(user, 0, 0, 0, nullptr);
    }
};

constexpr const char* reject_locked = "REJECT 5.7.1 this account is locked, ask your postmaster";

} // namespace

TEST_CASE("policy recent keys: once per key, forgotten after the ttl or beyond the capacity") {
    RecentKeys keys(2, std::chrono::seconds(10));
    auto t = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    CHECK(keys.insert("a", t));
    CHECK_FALSE(keys.insert("a", t));
    CHECK(keys.contains("a", t + std::chrono::seconds(9)));
    CHECK_FALSE(keys.contains("a", t + std::chrono::seconds(10)));
    CHECK(keys.insert("b", t));
    CHECK(keys.insert("c", t));
    CHECK(keys.insert("d", t)); // "b" goes: the capacity is 2
    CHECK_FALSE(keys.contains("b", t));
    CHECK(keys.size() == 2);
}

TEST_CASE("policy postfix: a login counts once per SMTP connection") {
    Fixture f;
    CHECK(f.postfix("alice@example.com", "198.51.100.7") == "DUNNO");
    CHECK(f.postfix("alice@example.com", "198.51.100.7", "40000", "RCPT", "1") == "DUNNO");
    CHECK(f.postfix("alice@example.com", "198.51.100.7", "40000", "END-OF-MESSAGE", "2") ==
          "DUNNO");
    auto history = f.store.load("alice@example.com");
    REQUIRE(history.observations.size() == 1);
    CHECK(history.observations[0].count == 1);
    // Another connection from the same address is another login.
    f.postfix("alice@example.com", "198.51.100.7", "40001");
    CHECK(f.store.load("alice@example.com").observations[0].count == 2);
    // END-OF-MESSAGE counted the message and its recipients; RCPT only judged.
    CHECK(f.counts("alice@example.com").messages_short == 1);
    CHECK(f.counts("alice@example.com").recipients_short == 2);
}

TEST_CASE(
    "policy postfix: a botnet's connections lock the account, and every request after is refused") {
    Fixture f;
    std::vector<std::string> answers;
    for (int i = 1; i <= 7; ++i)
        answers.push_back(f.postfix("victim@example.com",
                                    "46." + std::to_string(100 + i) + ".66.80",
                                    std::to_string(50000 + i)));
    CHECK(answers[0] == "DUNNO");
    CHECK(answers[4] == "DUNNO");
    CHECK(answers[5] == reject_locked);
    CHECK(f.locked("victim@example.com"));
    // An old connection's next request, and Dovecot's allow, both refuse.
    CHECK(f.postfix("victim@example.com", "46.101.66.80", "50001") == reject_locked);
    CHECK(f.dovecot(DovecotCommand::allow, "victim@example.com", "46.101.66.80").status == -1);
}

TEST_CASE("policy postfix: without sasl_username nothing is judged unless relay limits are set") {
    Fixture f;
    CHECK(f.postfix("", "192.0.2.9", "1", "END-OF-MESSAGE", "3") == "DUNNO");
    CHECK(f.counts("relay:192.0.2.9").messages_short == 0);
    f.config.defaults.relay_max_messages_short = 1;
    CHECK(f.postfix("", "192.0.2.9", "1", "END-OF-MESSAGE", "3") == "DUNNO");
    CHECK(f.counts("relay:192.0.2.9").messages_short == 1);
    CHECK(f.postfix("", "192.0.2.9", "2", "RCPT", "0").rfind("DEFER_IF_PERMIT 4.7.1", 0) == 0);
}

TEST_CASE("policy postfix: not a policy request, a name the hooks refuse: DUNNO, nothing counted") {
    Fixture f;
    PostfixRequest r;
    r.attributes = {{"request", "something_else"}, {"sasl_username", "alice@example.com"}};
    CHECK(f.service.answer_postfix(r) == "DUNNO");
    CHECK(f.networks("alice@example.com") == 0);
    CHECK(f.postfix(std::string(5000, 'x'), "198.51.100.7") == "DUNNO");
}

TEST_CASE("policy dovecot: report counts logins and failures, allow only looks") {
    Fixture f;
    CHECK(f.dovecot(DovecotCommand::allow, "bob@example.com", "203.0.113.9").status == 0);
    CHECK(f.networks("bob@example.com") == 0);
    CHECK(f.dovecot(DovecotCommand::report, "bob@example.com", "203.0.113.9", true).status == 0);
    CHECK(f.networks("bob@example.com") == 1);
    // A login our allow refused is not a failure of its own.
    f.dovecot(DovecotCommand::report, "bob@example.com", "203.0.113.10", false, "imap", true);
    CHECK(f.networks("bob@example.com") == 1);
    // A wrong password is.
    f.dovecot(DovecotCommand::report, "bob@example.com", "203.0.113.11", false);
    auto history = f.store.load("bob@example.com");
    REQUIRE(history.observations.size() == 2);
    int failures = 0;
    for (const auto& o : history.observations)
        if (o.kind == Observation::Kind::failure) {
            ++failures;
            CHECK(o.fingerprint == 0x0b11); // Dovecot's pwhash
        }
    CHECK(failures == 1);
}

TEST_CASE("policy dovecot: reports from many networks lock; the next allow refuses") {
    Fixture f;
    for (int i = 1; i <= 7; ++i)
        f.dovecot(DovecotCommand::report, "imapbot@example.com",
                  "81." + std::to_string(10 + i) + ".1.1", true);
    CHECK(f.locked("imapbot@example.com"));
    auto a = f.dovecot(DovecotCommand::allow, "imapbot@example.com", "81.11.1.1");
    CHECK(a.status == -1);
    CHECK(a.message == "this account is locked, ask your postmaster");
    // Each refused login is an attempt after the lock, counted once: the
    // report that follows (policy_reject) adds nothing, and no login from
    // the refused address is recorded.
    auto before = f.store.load("imapbot@example.com");
    REQUIRE(before.lock);
    f.dovecot(DovecotCommand::report, "imapbot@example.com", "81.99.1.1", false, "imap", true);
    CHECK(f.dovecot(DovecotCommand::allow, "imapbot@example.com", "81.99.1.1").status == -1);
    f.dovecot(DovecotCommand::report, "imapbot@example.com", "81.99.1.1", false, "imap", true);
    auto after = f.store.load("imapbot@example.com");
    CHECK(after.lock->attempts_after == before.lock->attempts_after + 1);
    CHECK(after.observations.size() == before.observations.size());
    // and the log reads as a refused login, not as a message check
    std::string log = f.dir.read("log");
    CHECK(log.find("refuse-locked user=imapbot@example.com address=81.99.1.1 service=imap "
                   "outcome=unchecked") != std::string::npos);
    CHECK(log.find("dovecot-allow") == std::string::npos);
}

TEST_CASE("policy: an SMTP login Dovecot reports and Postfix asks about counts once") {
    Fixture f;
    f.dovecot(DovecotCommand::report, "carol@example.com", "198.51.100.50", true, "smtp");
    CHECK(f.postfix("carol@example.com", "198.51.100.50", "41000") == "DUNNO");
    auto history = f.store.load("carol@example.com");
    REQUIRE(history.observations.size() == 1);
    CHECK(history.observations[0].count == 1);
    // From another address it is another login.
    f.postfix("carol@example.com", "198.51.100.51", "41001");
    CHECK(f.networks("carol@example.com") == 2);
}

TEST_CASE("policy: an SMTP login counts once in either order, once per session") {
    Fixture f;
    auto logins = [&](const std::string& user) {
        unsigned n = 0;
        for (const auto& o : f.store.load(user).observations)
            n += o.count;
        return n;
    };
    // Dovecot does not wait for the report's answer: Postfix's request can
    // come first.
    CHECK(f.postfix("dave@example.com", "198.51.100.60", "42000") == "DUNNO");
    f.dovecot(DovecotCommand::report, "dave@example.com", "198.51.100.60", true, "smtp");
    CHECK(logins("dave@example.com") == 1);
    // Two sessions from one address, their halves interleaved: two logins.
    f.dovecot(DovecotCommand::report, "dave@example.com", "198.51.100.60", true, "smtp");
    f.dovecot(DovecotCommand::report, "dave@example.com", "198.51.100.60", true, "smtp");
    f.postfix("dave@example.com", "198.51.100.60", "42001");
    f.postfix("dave@example.com", "198.51.100.60", "42002");
    CHECK(logins("dave@example.com") == 3);
}

TEST_CASE("policy recent keys: add and take count") {
    RecentKeys keys(10, std::chrono::seconds(10));
    auto t = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    CHECK_FALSE(keys.take("a", t));
    keys.add("a", t);
    keys.add("a", t + std::chrono::seconds(5));
    CHECK(keys.take("a", t + std::chrono::seconds(6)));
    CHECK(keys.take("a", t + std::chrono::seconds(12))); // renewed by the second add
    CHECK_FALSE(keys.take("a", t + std::chrono::seconds(12)));
    keys.add("b", t);
    CHECK_FALSE(keys.take("b", t + std::chrono::seconds(10)));
}

TEST_CASE("policy: the second side of an SMTP login waits for the first side's check to end") {
    // Dovecot's report is not waited for: Postfix's RCPT may come while the
    // report's check is still storing the lock it decided.
    SessionMemory memory;
    using Side = SessionMemory::Side;
    REQUIRE_FALSE(memory.smtp_login_counted_by_other(Side::dovecot, "u@example.com", "192.0.2.1"));
    std::atomic<bool> returned{false};
    bool taken = false;
    std::thread postfix([&] {
        taken = memory.smtp_login_counted_by_other(Side::postfix, "u@example.com", "192.0.2.1");
        returned = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK_FALSE(returned.load()); // still waiting for the report's check
    memory.smtp_login_check_done("u@example.com", "192.0.2.1");
    postfix.join();
    CHECK(taken);
}
