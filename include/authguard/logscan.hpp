// logscan.hpp - one mail log line into a typed record, for reading logs
// after the fact (authguardctl scan, report) and live (authguardctl follow).
//
// Formats: BSD syslog ("Jul 22 18:52:46 host tag[pid]: text", local time,
// year inferred), RFC 3339 syslog ("2013-07-22T18:52:46+09:00 host tag:
// text"), tai64nlocal / Dovecot ("2013-07-22 18:52:46.611 text", local
// time) and multilog ("@4000000051ed0d3e24a8d5b4 text", TAI64N).
//
// Lines understood (everything else with a valid time is "ignored"):
//   vpopmail vchkpw   "vchkpw-submission: (PLAIN) login success u@d:IP",
//                     "password fail [(pass: '...')] u@d:IP" (the password
//                     is never looked at), "vpopmail user not found u@d:IP",
//                     "smtp access denied u@d:IP", "system password fail u:IP"
//   authguard         its own decision lines (lib/guard.cpp log_decision):
//                     "<verdict> user=U address=A service=S outcome=O ..."
//                     in syslog, and in the log-file copy without a tag:
//                     "@<TAI64N> <verdict> user=..." (lib/log.cpp), or bare
//                     (written before the stamp: the time= field is its time)
//   qmail-smtpd       Erwin Hoffmann's AUTH logging (qmail-authentication,
//                     s/qmail, aQmail; see aqmail/aQmail smtpdlog.c,
//                     smtp_loga / smtp_logb): "qmail-smtpd: pid N
//                     Accept::AUTH::<method> P:.. S:IP:host ... ?~ 'user'"
//                     and "Reject::AUTH::..."; the older spamcontrol form
//                     ends "?= 'user'"
//   Dovecot           "imap-login: Login: user=<u>, method=M, rip=IP, ..."
//                     and "... (auth failed, N attempts[ in S secs]): user=<u>,
//                     ..., rip=IP" (the forms fail2ban's dovecot filter tests
//                     against, fail2ban/tests/files/logs/dovecot)
//   Postfix smtpd     under any syslog_name ending in "/smtpd" (postfix/smtpd,
//                     postfix/submission/smtpd, ...): "QUEUEID: client=name[IP]
//                     [:port], sasl_method=M, sasl_username=U[, sasl_sender=S]"
//                     (one line per message, smtpd.c) and "warning: name[IP]:
//                     SASL M authentication failed: REASON, sasl_username=U"
//                     (Postfix's of October 2023 on; older ones name no user)
//   qmail-send        "info msg N: bytes B from <s> qp P uid U",
//                     "starting delivery D: msg N to local|remote R",
//                     "delivery D: success|failure|deferral: ...", "end msg N"
//                     (after splogger's "1374486777.611039 " or bare, multilog)
//
// Records point into the line (or into the parser's scratch space for
// unescaped fields): they are valid until the next parse() call.
#pragma once

#include "authguard/event.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace authguard::logscan {

// Who wrote an authentication line. One login can be logged by several
// (vchkpw and authguard-checkpw's decision line); readers pair them.
enum class Source : std::uint8_t { vchkpw, authguard, qmail_smtpd, dovecot, postfix };
std::string_view to_string(Source source);

enum class Kind : std::uint8_t {
    ignored,        // a well-formed log line authguard has no use for
    skipped,        // not understood (see SkipReason)
    auth,           // a login attempt
    message,        // qmail-send accepted a message: msg id, sender
    delivery_start, // qmail-send started a delivery of a message to a recipient
    delivery_done,  // a delivery ended: success, failure (final) or deferral
    message_end,    // qmail-send is done with a message
};

enum class SkipReason : std::uint8_t {
    none,
    unknown_format, // no timestamp this parser knows
    malformed,      // a known program's line without the fields it must have
    bad_address,    // the client address is not an IP address
    bad_user,       // empty user name, control characters
    invalid_utf8,   // a user name that is not UTF-8
    too_long,       // longer than the reader's line limit (set by the reader)
    unterminated,   // the last line of a file, without its newline (set by the reader)
    count_          // the number of reasons
};
std::string_view to_string(SkipReason reason);

struct AuthRecord {
    std::string_view user;    // as logged (authguard's \xNN escapes undone)
    std::string_view address; // as logged; empty when the line has none
    Outcome outcome = Outcome::success;
    Source source = Source::vchkpw;
    std::string_view service;   // "submission", "smtp", "pop3", "imap", "port-N", ...
    std::uint32_t attempts = 1; // Dovecot: "auth failed, N attempts"
    // One SMTP session's key, 0 when none: qmail-smtpd's pid (a session logs
    // Accept per RCPT); Postfix's successful logins (logged once per message):
    // the smtpd pid and the client's port when logged, with the top bit set
    // (see postfix_session in logscan.cpp).
    std::uint64_t session = 0;
    std::string_view verdict; // authguard lines: "allow", "lock", ...
};

struct MessageRecord {
    std::uint64_t msg = 0;      // qmail-send's message number (inode)
    std::uint64_t delivery = 0; // delivery number
    std::string_view sender;    // message: the envelope sender, without <>
    std::string_view recipient; // delivery_start
    bool remote = false;        // delivery_start: to remote
    bool deferred = false;      // delivery_done: a deferral (will be retried)
};

struct Line {
    Kind kind = Kind::ignored;
    SkipReason reason = SkipReason::none;
    std::int64_t time = 0; // Unix time
    AuthRecord auth;
    MessageRecord message;
};

// How a syslog line without a year gets one.
enum class YearMode : std::uint8_t {
    // Lines are in time order: the first line's year is the latest one that
    // puts it no later than a day after the reference time (the file's
    // modification time); a month going back by more than six months
    // starts a new year. For reading whole files.
    chain,
    // Each line gets the latest year that puts it no later than a day
    // after the reference time (the clock). For following live logs.
    before_reference,
};

bool parse_time_argument(std::string_view text, std::int64_t& out);

class Parser {
  public:
    explicit Parser(YearMode mode = YearMode::chain) : mode_(mode) {}

    // The time a year is inferred from (see YearMode). In chain mode it
    // matters only until the first dated line; later files continue the
    // chain. `year` > 0 forces the first line's year instead.
    void set_reference(std::int64_t unix_time, int year = 0);

    Line parse(std::string_view line);
    // The same into `out` (no copy; for reading large files).
    void parse(std::string_view line, Line& out);

    // parse() in two steps, for a reader that remembers what a repeated
    // text means (a mail client polling logs the same login line again
    // and again, but for the time and the pid): split() reads the time
    // into `out` and finds the program's tag and text; false when the
    // line has no time (`out` says why) or is empty. parse_body() then
    // fills `out` from the head alone: the same head, the same record.
    struct Head {
        std::string_view tag;  // "vpopmail" of "host vpopmail[123]: ", empty when none
        std::string_view body; // the text after the tag (or all of it)
        std::string_view text; // everything after the time
    };
    bool split(std::string_view line, Line& out, Head& head);
    void parse_body(const Head& head, Line& out);

  private:
    friend bool parse_time_argument(std::string_view text, std::int64_t& out);
    struct HourCache {
        int year = -1, month = -1, day = -1, hour = -1;
        std::int64_t base = 0;
    };
    // The length of the timestamp at the start of `text` (with the space
    // after it), 0 when there is none. (Lengths, not an advanced view: a
    // view written through a reference is read back from memory, stalled.)
    std::size_t parse_time(std::string_view text, std::int64_t& time);
    std::size_t bsd_time(std::string_view text, std::int64_t& time);
    std::size_t iso_time(std::string_view text, std::int64_t& time);
    int year_for(int month, int day);
    std::int64_t local_time(int year, int month, int day, int hour, int minute, int second);

    YearMode mode_;
    std::int64_t reference_ = 0;
    int forced_year_ = 0;
    int year_ = 0;             // chain: the current year (0: not yet known)
    int last_month_ = 0;       // chain: the month of the last dated line
    char last_stamp_[12] = {}; // "Jul 22 18:52" of the last syslog line, and its time

    std::int64_t last_stamp_time_ = 0;
    bool last_stamp_valid_ = false;
    HourCache hour_cache_;
    // "host tag: " (or "host tag[" before a pid) of recent lines: runs of
    // lines from a few programs repeat them byte for byte.
    struct Prefix {
        char bytes[40] = {};
        std::size_t length = 0, tag_at = 0, tag_length = 0;
        bool pid = false;
    };
    std::array<Prefix, 4> prefixes_{};
    std::size_t next_prefix_ = 0;
    std::string scratch_user_, scratch_address_, scratch_service_;
};

// True when `bytes` is valid UTF-8 (no overlong forms, surrogates or code
// points past U+10FFFF).
bool valid_utf8(std::string_view bytes);

// Parses a time given on a command line (--since, --until): "2013-07-22"
// and "2013-07-22 18:52:57" (local time), "2013-07-22T09:52:57Z",
// "2013-07-22T18:52:57+09:00", "@1374486777" or "1374486777". False when
// it is none of these.
bool parse_time_argument(std::string_view text, std::int64_t& out);

} // namespace authguard::logscan
