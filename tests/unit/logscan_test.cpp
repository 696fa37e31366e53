// logscan_test.cpp - the mail log line parser: the seed's own lines, every
// program and format it knows, year inference, and hostile input.
#include "authguard/logscan.hpp"

#include "authguard/log.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

using namespace authguard;
using namespace authguard::logscan;

namespace {

// The tests' clock: Japan, as the seed's server.
struct JapanTime {
    JapanTime() {
        ::setenv("TZ", "Asia/Tokyo", 1);
        ::tzset();
    }
};
const JapanTime japan;

Parser seed_parser() {
    Parser p;
    p.set_reference(0, 2013);
    return p;
}

} // namespace

TEST_CASE("logscan: the seed's lines") {
    Parser p = seed_parser();
    Line l = p.parse("Jul 22 18:52:46 mailserver vpopmail[17115]: vchkpw-submission: (PLAIN) login "
                     "success hello@example.com:83.242.101.27");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.time == 1374486766); // 09:52:46 UTC
    CHECK(l.auth.user == "hello@example.com");
    CHECK(l.auth.address == "83.242.101.27");
    CHECK(l.auth.outcome == Outcome::success);
    CHECK(l.auth.service == "submission");
    CHECK(l.auth.source == Source::vchkpw);

    l = p.parse("Jul 22 18:52:57 mailserver qmail: 1374486777.611077 info msg 90219: bytes 1364 from "
                "<hello@example.com> qp 17121 uid 103");
    REQUIRE(l.kind == Kind::message);
    CHECK(l.time == 1374486777);
    CHECK(l.message.msg == 90219);
    CHECK(l.message.sender == "hello@example.com");

    l = p.parse("Jul 22 18:52:57 mailserver qmail: 1374486777.638528 starting delivery 77421: msg "
                "90219 to remote ~@~");
    REQUIRE(l.kind == Kind::delivery_start);
    CHECK(l.message.delivery == 77421);
    CHECK(l.message.msg == 90219);
    CHECK(l.message.remote);
    CHECK(l.message.recipient == "~@~");

    l = p.parse("Jul 24 07:11:42 mailserver vpopmail[32749]: vchkpw-submission: password fail "
                "hello@example.com:91.225.163.32");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.outcome == Outcome::bad_password);
    CHECK(l.auth.address == "91.225.163.32");
    CHECK(l.time == 1374617502);

    CHECK(p.parse("Jul 22 18:52:57 mailserver qmail: 1374486777.611039 new msg 90219").kind == Kind::ignored);
    CHECK(p.parse("Jul 22 18:52:57 mailserver qmail: 1374486777.638582 status: local 0/100 remote 1/50").kind ==
          Kind::ignored);
    CHECK(p.parse("Jul 22 18:47:21 mailserver spamd[937]: spamd: connection from localhost.localdomain "
                  "[127.0.0.1] at port 43120")
              .kind == Kind::ignored);
    l = p.parse("Jul 22 18:47:21 mailserver qmail: 1374486441.012502 starting delivery 77399: msg 90220 "
                "to local example.com-hello@example.com");
    CHECK(l.kind == Kind::delivery_start);
    CHECK(!l.message.remote);
    l = p.parse("Jul 22 18:53:01 mailserver qmail: 1374486781.1 delivery 77421: deferral: "
                "Connected_to_192.0.2.1_but_greeting_failed./");
    CHECK(l.kind == Kind::delivery_done);
    CHECK(l.message.deferred);
    l = p.parse("Jul 22 18:53:01 mailserver qmail: 1374486781.1 delivery 77422: success: ok/");
    CHECK(l.kind == Kind::delivery_done);
    CHECK(!l.message.deferred);
    l = p.parse("Jul 22 18:53:02 mailserver qmail: 1374486782.5 end msg 90219");
    CHECK(l.kind == Kind::message_end);
    CHECK(l.message.msg == 90219);
}

TEST_CASE("logscan: every vchkpw line") {
    Parser p = seed_parser();
    // The line outlives the parse: a Line's fields point into it.
    std::string line;
    auto auth = [&](const std::string& text) {
        line = "Jul 22 18:52:46 mx vpopmail[1]: " + text;
        return p.parse(line);
    };
    Line l = auth("vchkpw-smtp: vpopmail user not found nobody@example.com:198.51.100.9");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.outcome == Outcome::bad_password);
    CHECK(l.auth.service == "smtp");
    l = auth("vchkpw-submission: smtp access denied hello@example.com:192.0.2.4");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.outcome == Outcome::bad_password);
    // the password some builds log is never taken for the user or address
    l = auth("vchkpw-pop3: password fail (pass: 'a b) evil@x:10.0.0.1') carol@example.com:192.0.2.5");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.user == "carol@example.com");
    CHECK(l.auth.address == "192.0.2.5");
    CHECK(l.auth.service == "pop3");
    l = auth("vchkpw-pop3: password fail (pass: 'x) login success y') carol@example.com:192.0.2.5");
    CHECK(l.auth.outcome == Outcome::bad_password);
    l = auth("vchkpw-2525: (CRAM-MD5) login success dan@example.com:2001:db8::7");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.address == "2001:db8::7");
    CHECK(l.auth.service == "port-2525");
    l = auth("vchkpw: (PLAIN) login success erin@example.com:");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.address.empty());
    CHECK(l.auth.service == "unknown");
    // older vpopmail releases log a success without the auth type
    l = auth("vchkpw: login success old@example.com:192.0.2.6");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.outcome == Outcome::success);
    CHECK(l.auth.user == "old@example.com");
    CHECK(l.auth.address == "192.0.2.6");
    l = auth("vchkpw-smtp: login success old2@example.com:192.0.2.6");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.outcome == Outcome::success);
    CHECK(l.auth.service == "smtp");
    l = auth("vchkpw-smtp: system password fail root:192.0.2.8");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.user == "root");
    CHECK(auth("vchkpw-smtp: setuid 89 failed errno 1 x@example.com:192.0.2.8").kind == Kind::ignored);
    CHECK(auth("vchkpw-smtp: null password given x@example.com:192.0.2.8").kind == Kind::ignored);
    CHECK(auth("vchkpw-smtp: (PLAIN) login success nocolon").kind == Kind::skipped);
    // vchkpw as the syslog tag itself
    l = p.parse("Jul 22 18:52:46 mx vchkpw-submission[9]: password fail f@example.com:192.0.2.9");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.service == "submission");
}

TEST_CASE("logscan: authguard's own decision lines") {
    Parser p = seed_parser();
    Line l = p.parse("Jul 22 18:52:57 mailserver authguard[4711]: lock user=hello@example.com "
                     "address=46.118.66.80 service=submission outcome=success time=1374486777 "
                     "nets_short=6 reason=\"6 new networks within 3600s\"");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.source == Source::authguard);
    CHECK(l.auth.verdict == "lock");
    CHECK(l.auth.user == "hello@example.com");
    CHECK(l.auth.address == "46.118.66.80");
    l = p.parse("Jul 22 18:52:57 mx authguard[1]: refuse-locked user=odd\\x20name\\x22@example.com "
                "address=192.0.2.1 service=smtp outcome=bad-password time=1");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.user == "odd name\"@example.com");
    CHECK(l.auth.outcome == Outcome::bad_password);
    // message decisions and other lines of authguard's
    CHECK(p.parse("Jul 22 18:52:57 mx authguard[1]: allow queue sender=a@example.com recipients=1").kind ==
          Kind::ignored);
    CHECK(p.parse("Jul 22 18:52:57 mx authguard[1]: unlock user=a by root").kind == Kind::ignored);
    // authguard-policyd refusing a locked account before the password check
    // (Dovecot's allow): no login happened
    CHECK(p.parse("Jul 22 18:52:57 mx authguard[1]: refuse-locked user=a address=192.0.2.1 "
                  "service=imap outcome=unchecked time=1 attempts_after=3")
              .kind == Kind::ignored);
    CHECK(p.parse("Jul 22 18:52:57 mx authguard[1]: allow user=a address=192.0.2.1 outcome=maybe").kind ==
          Kind::skipped);
}

// Issue 12: the log-file copy had no time stamp, so an admin could not tell
// when a decision was made and scan could not read the file at all.
TEST_CASE("logscan: log-file lines get a tai64n stamp, and scan reads them stamped or bare") {
    CHECK(tai64n_stamp(1374486777, 0x28c80c8c) == "@4000000051ed010328c80c8c ");
    CHECK(tai64n_stamp(0, 0) == "@400000000000000a00000000 ");

    authguard::testing::TempDir dir;
    const std::string path = (dir.path() / "authguard.log").string();
    const std::string decision = "lock user=hello@example.com address=46.118.66.80 "
                                 "service=submission outcome=success time=1374486777 "
                                 "reason=\"6 new networks within 3600s\"";
    auto last_line = [&] {
        std::ifstream in(path);
        std::string line, last;
        while (std::getline(in, line))
            last = line;
        return last;
    };
    {
        ::unsetenv("AUTHGUARD_NOW");
        Logger logger(path);
        auto before = static_cast<std::int64_t>(std::time(nullptr));
        logger.write(Logger::Level::warning, decision);
        std::string line = last_line();
        REQUIRE(line.size() > 26);
        CHECK(line[0] == '@');
        CHECK(line.substr(26) == decision);
        Parser p(YearMode::before_reference);
        Line l = p.parse(line);
        REQUIRE(l.kind == Kind::auth);
        CHECK(l.auth.source == Source::authguard);
        CHECK(l.auth.verdict == "lock");
        CHECK(l.auth.user == "hello@example.com");
        CHECK(l.time >= before);
        CHECK(l.time <= before + 5);
    }
    {
        // replays and tests set the clock: the stamp follows it
        ::setenv("AUTHGUARD_NOW", "1374486800", 1);
        Logger logger(path);
        logger.write(Logger::Level::info, decision);
        ::unsetenv("AUTHGUARD_NOW");
        std::string line = last_line();
        CHECK(line.rfind("@4000000051ed011a00000000 lock user=", 0) == 0);
        Parser p;
        Line l = p.parse(line);
        REQUIRE(l.kind == Kind::auth);
        CHECK(l.time == 1374486800); // the stamp is the event's time, not time=
    }
    Parser p;
    // a line written before the stamp: its time= field
    Line l = p.parse(decision);
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.time == 1374486777);
    CHECK(l.auth.address == "46.118.66.80");
    // a user name ending in ':' is no syslog tag
    l = p.parse("@4000000051ed010328c80c8c refuse-locked user=odd: address=192.0.2.1 service=smtp "
                "outcome=bad-password time=1");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.user == "odd:");
    // other lines of the copy
    CHECK(p.parse("@4000000051ed010328c80c8c allow queue sender=a@example.com recipients=1").kind ==
          Kind::ignored);
    CHECK(p.parse("@4000000051ed010328c80c8c unlock user=a by root").kind == Kind::ignored);
    CHECK(p.parse("unlock user=a by root").reason == SkipReason::unknown_format);
    CHECK(p.parse("lock user=a address=192.0.2.1 outcome=success").reason ==
          SkipReason::unknown_format); // bare, and no time=: no time to give it
    // multilog's and syslog's lines are read as before
    CHECK(p.parse("@4000000051ed010328c80c8c info msg 90219: bytes 1364 from <a@example.com> qp 1 "
                  "uid 103")
              .kind == Kind::message);
    CHECK(p.parse("Jul 22 18:52:57 mx authguard[1]: lock user=a address=192.0.2.1 service=smtp "
                  "outcome=success time=1")
              .kind == Kind::auth);
}

TEST_CASE("logscan: qmail-smtpd AUTH lines (Hoffmann's logging)") {
    Parser p = seed_parser();
    Line l = p.parse("@4000000051ed0d3e24a8d5b4 qmail-smtpd: pid 17121 Accept::AUTH::login P:ESMTPSA "
                     "S:83.242.101.27:unknown H:client F:hello@example.com T:x@example.net ?~ 'hello@example.com'");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.time == 0x51ed0d3e - 10);
    CHECK(l.auth.source == Source::qmail_smtpd);
    CHECK(l.auth.session == 17121);
    CHECK(l.auth.user == "hello@example.com");
    CHECK(l.auth.address == "83.242.101.27");
    l = p.parse("Jul 22 18:52:46 mx smtpd: 1374486766.1 qmail-smtpd: pid 5 Reject::AUTH::plain P:ESMTPA "
                "S:2001:db8::1:host.example H:helo ?~ 'bob'");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.outcome == Outcome::bad_password);
    CHECK(l.auth.address == "2001:db8::1");
    l = p.parse("@4000000051ed0d3e24a8d5b4 qmail-smtpd: pid 9 Accept::AUTH::login P:ESMTPA S:192.0.2.1:h ?= 'old@x'");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.user == "old@x");
    CHECK(p.parse("@4000000051ed0d3e24a8d5b4 qmail-smtpd: pid 9 Reject::AUTH::Auth_Meth P:ESMTPA S:1.2.3.4:h H:x ?~ 'none'")
              .kind == Kind::ignored);
    CHECK(p.parse("@4000000051ed0d3e24a8d5b4 qmail-smtpd: pid 9 Accept::RCPT::Recipients_Cdb P:ESMTP S:1.2.3.4:h")
              .kind == Kind::ignored);
    CHECK(p.parse("@4000000051ed0d3e24a8d5b4 qmail-smtpd: pid 9 Accept::AUTH::login P:ESMTPA S:1.2.3.4:h ?~ 'trunc")
              .kind == Kind::skipped);
}

TEST_CASE("logscan: Dovecot logins") {
    Parser p = seed_parser();
    Line l = p.parse("Jul 22 18:52:46 mx dovecot: imap-login: Login: user=<ann@example.com>, method=PLAIN, "
                     "rip=192.0.2.7, lip=192.0.2.1, mpid=4242, TLS, session=<abc>");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.source == Source::dovecot);
    CHECK(l.auth.service == "imap");
    CHECK(l.auth.user == "ann@example.com");
    CHECK(l.auth.address == "192.0.2.7");
    l = p.parse("Jun 13 20:48:11 mx dovecot: imap-login: Disconnected (auth failed, 2 attempts): "
                "user=<username.bob>, method=PLAIN, rip=49.176.98.87, lip=113.212.99.194, TLS");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.outcome == Outcome::bad_password);
    CHECK(l.auth.attempts == 2);
    l = p.parse("Jul 02 13:49:31 hostname dovecot[442]: pop3-login: Aborted login (auth failed, 1 attempts "
                "in 17 secs): user=<test>, method=PLAIN, rip=192.51.100.13, lip=203.0.113.17, session=<Y>");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.service == "pop3");
    l = p.parse("@400000004c91b044077a9e94 imap-login: Info: Aborted login (auth failed, 1 attempts): "
                "user=<martin@example.de>, method=CRAM-MD5, rip=80.187.101.33, lip=80.254.129.240, TLS");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.address == "80.187.101.33");
    l = p.parse("Jul 22 18:52:46 imap-login: Info: Login: user=<x@example.com>, method=PLAIN, rip=192.0.2.9");
    REQUIRE(l.kind == Kind::auth); // Dovecot's own log file: no host
    CHECK(l.auth.address == "192.0.2.9");
    // no user name: nothing to attribute
    CHECK(p.parse("Jun 14 00:48:21 mx dovecot: imap-login: Disconnected (auth failed, 1 attempts): method=PLAIN, "
                  "rip=59.167.242.100, lip=113.212.99.194, TLS: Disconnected")
              .kind == Kind::ignored);
    CHECK(p.parse("Jul 02 13:49:32 h dovecot[442]: pop3-login: Disconnected (no auth attempts in 58 secs): "
                  "user=<>, rip=192.51.100.13")
              .kind == Kind::ignored);
}

TEST_CASE("logscan: Postfix smtpd SASL logins, in syslog and RFC 3339 stamps") {
    Parser p = seed_parser();
    Line l = p.parse("Dec  3 10:00:01 mx postfix/submission/smtpd[1234]: 4XyZ1234abc: "
                     "client=unknown[203.0.113.9], "
                     "sasl_method=PLAIN, sasl_username=user@example.com");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.source == Source::postfix);
    CHECK(to_string(l.auth.source) == "postfix");
    CHECK(l.auth.service == "submission");
    CHECK(l.auth.user == "user@example.com");
    CHECK(l.auth.address == "203.0.113.9");
    CHECK(l.auth.outcome == Outcome::success);
    const std::uint64_t session = l.auth.session;
    CHECK(session != 0);
    // the same session's next message: the same pid, the same session key
    l = p.parse("Dec  3 10:00:05 mx postfix/submission/smtpd[1234]: 3F1A2B4C5D: "
                "client=unknown[203.0.113.9], "
                "sasl_method=PLAIN, sasl_username=user@example.com");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.session == session);
    // RFC 3339, a port (smtpd_client_port_logging), a sender: plain smtpd is smtp
    l = p.parse("2026-12-03T10:00:01.123456+00:00 mx postfix/smtpd[1234]: 4XyZ1234abc: "
                "client=host.example[198.51.100.7]:40000, sasl_method=LOGIN, "
                "sasl_username=user@example.com, "
                "sasl_sender=other@example.com");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.time == 1796292001);
    CHECK(l.auth.service == "smtp");
    CHECK(l.auth.user == "user@example.com");
    CHECK(l.auth.address == "198.51.100.7");
    CHECK(l.auth.session != session); // the port tells sessions of one process apart
    // smtps under either name; another syslog_name; IPv6, with or without IPv6:
    l = p.parse(
        "Dec  3 10:00:01 mx postfix/smtps/smtpd[7]: 4XyZ1234abc: client=unknown[2001:db8::1], "
        "sasl_method=PLAIN, sasl_username=a@example.com, orig_queue_id=4Abc, "
        "orig_client=x[192.0.2.1]");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.service == "smtps");
    CHECK(l.auth.address == "2001:db8::1");
    CHECK(l.auth.user == "a@example.com");
    l = p.parse("Dec  3 10:00:01 mx postfix/submissions/smtpd[7]: ABCDEF: "
                "client=unknown[IPv6:2001:db8::2]:1025, "
                "sasl_method=PLAIN, sasl_username=a@example.com");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.service == "smtps");
    CHECK(l.auth.address == "2001:db8::2");
    l = p.parse("Dec  3 10:00:01 mx postfix-out/smtpd[7]: ABCDEF: client=unknown[192.0.2.5], "
                "sasl_method=PLAIN, "
                "sasl_username=b@example.com");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.service == "smtp");
    // mail from a client that did not log in, and other smtpd lines: ignored
    CHECK(
        p.parse("Dec  3 10:00:01 mx postfix/smtpd[7]: 4XyZ1234abc: client=mx.example[198.51.100.7]")
            .kind == Kind::ignored);
    CHECK(p.parse("Dec  3 10:00:01 mx postfix/smtpd[7]: connect from unknown[203.0.113.9]").kind ==
          Kind::ignored);
    CHECK(p.parse("Dec  3 10:00:01 mx postfix/smtpd[7]: NOQUEUE: reject: RCPT from "
                  "unknown[203.0.113.9]: 554 5.7.1 "
                  "<x@example.net>: Relay access denied; from=<a@b> to=<x@example.net> proto=ESMTP "
                  "helo=<h>")
              .kind == Kind::ignored);
    CHECK(p.parse("Dec  3 10:00:01 mx postfix/cleanup[8]: 4XyZ1234abc: message-id=<1@example.com>")
              .kind == Kind::ignored);
}

TEST_CASE("logscan: Postfix's failed SASL logins count when the line names the user") {
    Parser p = seed_parser();
    Line l = p.parse("Dec  3 10:00:01 mx postfix/submission/smtpd[1234]: warning: "
                     "unknown[203.0.113.9]: SASL LOGIN "
                     "authentication failed: UGFzc3dvcmQ6, sasl_username=user@example.com");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.source == Source::postfix);
    CHECK(l.auth.outcome == Outcome::bad_password);
    CHECK(l.auth.user == "user@example.com");
    CHECK(l.auth.address == "203.0.113.9");
    CHECK(l.auth.service == "submission");
    CHECK(l.auth.session == 0); // every failed AUTH is an attempt of its own
    l = p.parse("2026-12-03T10:00:01+00:00 mx postfix/smtpd[9]: warning: "
                "unknown[2001:db8::7]:51234: SASL PLAIN "
                "authentication failed: (reason unavailable), sasl_username=x@example.com");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.address == "2001:db8::7");
    CHECK(l.auth.user == "x@example.com");
    // Postfix before October 2023: no user, nobody to count it against
    CHECK(p.parse("Dec  3 10:00:01 mx postfix/smtpd[9]: warning: unknown[203.0.113.9]: SASL LOGIN "
                  "authentication "
                  "failed: UGFzc3dvcmQ6")
              .kind == Kind::ignored);
    CHECK(p.parse("Dec  3 10:00:01 mx postfix/smtpd[9]: warning: unknown[203.0.113.9]: SASL LOGIN "
                  "authentication "
                  "failed: generic failure, sasl_username=(unavailable)")
              .kind == Kind::ignored);
    CHECK(p.parse("Dec  3 10:00:01 mx postfix/smtpd[9]: warning: unknown[203.0.113.9]: SASL LOGIN "
                  "authentication "
                  "aborted")
              .kind == Kind::ignored);
    // the client's own name, whole: a ", key=" inside it does not cut it
    l = p.parse("Dec  3 10:00:01 mx postfix/smtpd[9]: warning: unknown[203.0.113.9]: SASL PLAIN "
                "authentication "
                "failed: x, sasl_username=evil, sasl_username=victim@example.com");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.user == "evil, sasl_username=victim@example.com");
}

TEST_CASE("logscan: hostile Postfix lines") {
    Parser p = seed_parser();
    // a user name with spaces (printable() keeps them): the name, whole
    Line l = p.parse("Dec  3 10:00:01 mx postfix/smtpd[1]: ABC123: client=unknown[192.0.2.1], "
                     "sasl_method=PLAIN, "
                     "sasl_username=John Smith, sasl_sender=js@example.com");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.user == "John Smith");
    // a missing bracket, a bad port: malformed, never a guess
    CHECK(p.parse("Dec  3 10:00:01 mx postfix/smtpd[1]: ABC123: client=unknown192.0.2.1, "
                  "sasl_method=PLAIN, "
                  "sasl_username=a@b")
              .reason == SkipReason::malformed);
    CHECK(p.parse("Dec  3 10:00:01 mx postfix/smtpd[1]: ABC123: client=unknown[192.0.2.1, "
                  "sasl_method=PLAIN, "
                  "sasl_username=a@b")
              .reason == SkipReason::malformed);
    CHECK(p.parse("Dec  3 10:00:01 mx postfix/smtpd[1]: ABC123: client=unknown[192.0.2.1]:99999, "
                  "sasl_method=PLAIN, "
                  "sasl_username=a@b")
              .reason == SkipReason::malformed);
    CHECK(p.parse("Dec  3 10:00:01 mx postfix/smtpd[1]: warning: unknown192.0.2.1: SASL LOGIN "
                  "authentication "
                  "failed: x, sasl_username=a@b")
              .reason == SkipReason::malformed);
    // an empty name, bytes that are not UTF-8
    CHECK(p.parse("Dec  3 10:00:01 mx postfix/smtpd[1]: ABC: client=u[192.0.2.1], "
                  "sasl_method=PLAIN, sasl_username=")
              .kind == Kind::ignored);
    CHECK(
        p.parse("Dec  3 10:00:01 mx postfix/smtpd[1]: ABC: client=u[192.0.2.1], sasl_method=PLAIN, "
                "sasl_username=\xff\xfe")
            .reason == SkipReason::invalid_utf8);
    // no pid: no session to count once, each line a login
    l = p.parse("Dec  3 10:00:01 mx postfix/smtpd: ABC: client=u[192.0.2.1], sasl_method=PLAIN, "
                "sasl_username=a@b");
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.session == 0);
    // a huge line: read in one pass, the name whole
    std::string huge =
        "Dec  3 10:00:01 mx postfix/smtpd[1]: ABC: client=u[192.0.2.1], sasl_method=PLAIN, "
        "sasl_username=" +
        std::string(1 << 20, 'a') + "@example.com";
    l = p.parse(huge);
    REQUIRE(l.kind == Kind::auth);
    CHECK(l.auth.user.size() == (1u << 20) + 12);
    std::string brackets =
        "Dec  3 10:00:01 mx postfix/smtpd[1]: ABC: client=" + std::string(100000, '[') +
        ", sasl_username=a@b";
    CHECK(p.parse(brackets).reason == SkipReason::malformed);
    // every prefix of both lines is understood or skipped, never a crash
    for (std::string line :
         {std::string(
              "2026-12-03T10:00:01.123456+00:00 mx postfix/submission/smtpd[1234]: 4XyZ1234abc: "
              "client=host.example[2001:db8::1]:40000, sasl_method=LOGIN, "
              "sasl_username=user@example.com, "
              "sasl_sender=s@example.com"),
          std::string("Dec  3 10:00:01 mx postfix/smtps/smtpd[1234]: warning: "
                      "unknown[203.0.113.9]:1: SASL LOGIN "
                      "authentication failed: UGFzc3dvcmQ6, sasl_username=user@example.com")})
        for (std::size_t n = 0; n <= line.size(); ++n)
            p.parse(std::string_view(line).substr(0, n));
}

TEST_CASE("logscan: formats and their clocks") {
    Parser p = seed_parser();
    CHECK(p.parse("2013-07-22T18:52:46+09:00 mx vpopmail[1]: vchkpw-smtp: password fail a@b:192.0.2.1").time ==
          1374486766);
    CHECK(p.parse("2013-07-22T09:52:46.123456Z mx vpopmail[1]: vchkpw-smtp: password fail a@b:192.0.2.1").time ==
          1374486766);
    CHECK(p.parse("2013-07-22 18:52:46.611039500 new msg 5").time == 1374486766); // tai64nlocal, local
    Line l = p.parse("@4000000051ed010328c80c8c info msg 90219: bytes 1364 from <hello@example.com> qp 17121 uid 103");
    REQUIRE(l.kind == Kind::message);
    CHECK(l.time == 1374486777);
    l = p.parse("@4000000051ed010328c80c8c delivery 77421: success: 192.0.2.1_accepted_message./");
    CHECK(l.kind == Kind::delivery_done);
    // single-digit days, CRLF endings
    CHECK(p.parse("Jul  2 18:52:46 mx vpopmail[1]: vchkpw-smtp: password fail a@b:192.0.2.1\r").kind == Kind::auth);
    CHECK(p.parse("Jul 02 18:52:46 mx vpopmail[1]: vchkpw-smtp: password fail a@b:192.0.2.1").kind == Kind::auth);
}

TEST_CASE("logscan: the year of a syslog line") {
    // chain: December then January is the next year
    Parser p;
    p.set_reference(0, 2013);
    CHECK(p.parse("Dec 31 23:59:59 mx qmail: 1.1 new msg 1").time == 1388501999); // 2013-12-31 14:59:59Z
    CHECK(p.parse("Jan  1 00:00:01 mx qmail: 1.1 new msg 1").time == 1388502001);
    // a straggler from the old year does not start another one
    CHECK(p.parse("Dec 31 23:59:58 mx qmail: 1.1 new msg 1").time == 1388501998);
    CHECK(p.parse("Jan  1 00:00:02 mx qmail: 1.1 new msg 1").time == 1388502002);

    // without a forced year: the latest year that is not after the file's time
    Parser q;
    q.set_reference(1374486766); // 2013-07-22
    CHECK(q.parse("Jul 20 00:00:00 mx qmail: 1.1 new msg 1").time == 1374246000);
    Parser r;
    r.set_reference(1374486766);
    CHECK(r.parse("Aug 20 00:00:00 mx qmail: 1.1 new msg 1").time == 1345388400); // 2012

    // following: every line the latest year not after the clock
    Parser f(YearMode::before_reference);
    f.set_reference(1357000000); // 2013-01-01 09:26 JST
    CHECK(f.parse("Dec 31 23:59:59 mx qmail: 1.1 new msg 1").time == 1356965999); // 2012
    CHECK(f.parse("Jan  1 09:00:00 mx qmail: 1.1 new msg 1").time == 1356998400); // 2013
}

TEST_CASE("logscan: hostile and broken lines never crash and are told apart") {
    Parser p = seed_parser();
    CHECK(p.parse("").kind == Kind::ignored);
    CHECK(p.parse("garbage").reason == SkipReason::unknown_format);
    CHECK(p.parse(std::string("\0\0\0\x01\xff", 5)).reason == SkipReason::unknown_format);
    CHECK(p.parse("Jul 22 18:52").reason == SkipReason::unknown_format);
    CHECK(p.parse("Foo 22 18:52:46 mx x: y").reason == SkipReason::unknown_format);
    CHECK(p.parse("Jul 32 18:52:46 mx x: y").reason == SkipReason::unknown_format);
    CHECK(p.parse("@40000000zzzzzzzz00000000 x").reason == SkipReason::unknown_format);
    CHECK(p.parse("2013-13-01T00:00:00Z mx x: y").reason == SkipReason::unknown_format);
    CHECK(p.parse("Jul 22 18:52:46 mx vpopmail[1]: vchkpw-smtp: password fail \xff\xfe@x:192.0.2.1").reason ==
          SkipReason::invalid_utf8);
    CHECK(p.parse("Jul 22 18:52:46 mx vpopmail[1]: vchkpw-smtp: password fail :192.0.2.1").reason ==
          SkipReason::bad_user);
    CHECK(p.parse("Jul 22 18:52:57 mx qmail: 1.2 info msg x: bytes").reason == SkipReason::malformed);
    CHECK(p.parse("Jul 22 18:52:57 mx qmail: 1.2 starting delivery 1: msg 2 to mars x").reason ==
          SkipReason::malformed);
    // every prefix of a real line is either understood or skipped, never a crash
    std::string line = "Jul 22 18:52:46 mailserver vpopmail[17115]: vchkpw-submission: (PLAIN) login success "
                       "hello@example.com:83.242.101.27";
    for (std::size_t n = 0; n <= line.size(); ++n) p.parse(std::string_view(line).substr(0, n));
    std::string msg = "Jul 22 18:52:57 mailserver qmail: 1374486777.611077 info msg 90219: bytes 1364 from "
                      "<hello@example.com> qp 17121 uid 103";
    for (std::size_t n = 0; n <= msg.size(); ++n) p.parse(std::string_view(msg).substr(0, n));
    std::string smtpd = "@4000000051ed0d3e24a8d5b4 qmail-smtpd: pid 17121 Accept::AUTH::login P:ESMTPSA "
                        "S:83.242.101.27:unknown H:client ?~ 'hello@example.com'";
    for (std::size_t n = 0; n <= smtpd.size(); ++n) p.parse(std::string_view(smtpd).substr(0, n));
    std::string dove = "Jul 22 18:52:46 mx dovecot: imap-login: Disconnected (auth failed, 2 attempts): "
                       "user=<b>, method=PLAIN, rip=49.176.98.87, lip=1";
    for (std::size_t n = 0; n <= dove.size(); ++n) p.parse(std::string_view(dove).substr(0, n));
}

TEST_CASE("logscan: command-line times") {
    std::int64_t t = 0;
    CHECK(parse_time_argument("1374486777", t));
    CHECK(t == 1374486777);
    CHECK(parse_time_argument("@1374486777", t));
    CHECK(parse_time_argument("2013-07-22T09:52:57Z", t));
    CHECK(t == 1374486777);
    CHECK(parse_time_argument("2013-07-22 18:52:57", t)); // local: Japan in these tests
    CHECK(t == 1374486777);
    CHECK(parse_time_argument("2013-07-22", t));
    CHECK(t == 1374418800);
    CHECK(!parse_time_argument("yesterday", t));
    CHECK(!parse_time_argument("2013-07-22 18:52:57 trailing", t));
    CHECK(valid_utf8("\xe3\x83\x86"));
    CHECK(!valid_utf8("\xc0\x80"));
    CHECK(!valid_utf8("\xed\xa0\x80"));
}

TEST_CASE("logscan: qmail-send's numbers of every length, and what ends them") {
    Parser p = seed_parser();
    std::uint64_t number = 0;
    for (int digits = 1; digits <= 19; ++digits) {
        number = number * 10 + static_cast<std::uint64_t>(digits % 10);
        std::string n = std::to_string(number);
        CAPTURE(n);
        Line l = p.parse("Jul 22 18:52:57 mailserver qmail: 1374486777.638528 starting delivery " + n +
                         ": msg " + n + " to remote ~@~");
        REQUIRE(l.kind == Kind::delivery_start);
        CHECK(l.message.delivery == number);
        CHECK(l.message.msg == number);
        l = p.parse("Jul 22 18:52:57 mailserver qmail: 1374486777.638528 info msg " + n +
                    ": bytes 1364 from <hello@example.com> qp 17121 uid 103");
        REQUIRE(l.kind == Kind::message);
        CHECK(l.message.msg == number);
    }
    // a number that ends in anything but the expected byte is no number
    for (std::string bad : {"9021x", "90219;", "9021 9", "90/19", "9021\x80", "90219:x"})
        CHECK(p.parse("Jul 22 18:52:57 mailserver qmail: 1374486777.638528 starting delivery 77421: msg " +
                      bad + " to remote ~@~")
                  .kind == Kind::skipped);
    CHECK(p.parse("Jul 22 18:52:57 mailserver qmail: 1374486777.638528 starting delivery 7742a: msg 1 to "
                  "remote x")
              .kind == Kind::skipped);
}
