// logscan.cpp - the mail log line parser (see logscan.hpp for the formats).
//
// Built for speed on large files: no allocation per line, timestamps
// cached per second and per hour, and every program's line recognised by
// its fixed prefix rather than by searching the whole line.
#include "authguard/logscan.hpp"

#include <strings.h>

#include <cstring>
#include <ctime>
#include <iterator>
#include <limits>

namespace authguard::logscan {

// The names, in the enums' order.
constexpr std::string_view source_names[] = {"vchkpw", "authguard", "qmail-smtpd", "dovecot",
                                             "postfix"};
constexpr std::string_view skip_reason_names[] = {"none",        "unknown-format", "malformed",
                                                  "bad-address", "bad-user",       "invalid-utf8",
                                                  "too-long",    "unterminated"};
static_assert(std::size(skip_reason_names) == static_cast<std::size_t>(SkipReason::count_));

std::string_view to_string(Source source) {
    auto i = static_cast<std::size_t>(source);
    return i < std::size(source_names) ? source_names[i] : "unknown";
}

std::string_view to_string(SkipReason reason) {
    auto i = static_cast<std::size_t>(reason);
    return i < std::size(skip_reason_names) ? skip_reason_names[i] : "unknown";
}

namespace {

using sv = std::string_view;

constexpr std::int64_t tai64_unix_offset = 4611686018427387914LL; // 2^62 + 10, as tai64nlocal

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

int digit(char c) {
    return c - '0';
}

// Two digits at text[at]; -1 when not digits.
int two_digits(sv text, std::size_t at) {
    if (at + 2 > text.size() || !is_digit(text[at]) || !is_digit(text[at + 1])) return -1;
    return digit(text[at]) * 10 + digit(text[at + 1]);
}

// A whole unsigned decimal number (no sign, no spaces), at most 18 digits.
template <class Number> bool parse_number(sv text, Number& out) {
    if (text.empty() || text.size() > 18) return false;
    std::uint64_t v = 0;
    for (char c : text) {
        unsigned d = static_cast<unsigned char>(c) - static_cast<unsigned>('0');
        if (d > 9) return false;
        v = v * 10 + d;
    }
    if (v > static_cast<std::uint64_t>(std::numeric_limits<Number>::max())) return false;
    out = static_cast<Number>(v);
    return true;
}

// Short byte strings compared a word at a time, inline (memcmp is a call).
inline bool same_bytes(const char* a, const char* b, std::size_t n) {
    auto word = [](const char* p) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        return w;
    };
    if (n < 8) {
        for (std::size_t i = 0; i < n; ++i)
            if (a[i] != b[i]) return false;
        return true;
    }
    for (std::size_t i = 0; i + 8 < n; i += 8)
        if (word(a + i) != word(b + i)) return false;
    return word(a + n - 8) == word(b + n - 8); // the last word, overlapping
}

// "Jul 22 18:52" of two syslog timestamps, compared as two words.
inline bool same_minute(const char* a, const char* b) {
    std::uint64_t a1, a2, b1, b2;
    std::memcpy(&a1, a, 8);
    std::memcpy(&b1, b, 8);
    std::memcpy(&a2, a + 4, 8);
    std::memcpy(&b2, b + 4, 8);
    return a1 == b1 && a2 == b2;
}

int month_number(const char* p) {
    // Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec
    switch (p[0]) {
    case 'J':
        if (p[1] == 'a' && p[2] == 'n') return 1;
        if (p[1] == 'u' && p[2] == 'n') return 6;
        if (p[1] == 'u' && p[2] == 'l') return 7;
        return 0;
    case 'F':
        return p[1] == 'e' && p[2] == 'b' ? 2 : 0;
    case 'M':
        if (p[1] == 'a' && p[2] == 'r') return 3;
        if (p[1] == 'a' && p[2] == 'y') return 5;
        return 0;
    case 'A':
        if (p[1] == 'p' && p[2] == 'r') return 4;
        if (p[1] == 'u' && p[2] == 'g') return 8;
        return 0;
    case 'S':
        return p[1] == 'e' && p[2] == 'p' ? 9 : 0;
    case 'O':
        return p[1] == 'c' && p[2] == 't' ? 10 : 0;
    case 'N':
        return p[1] == 'o' && p[2] == 'v' ? 11 : 0;
    case 'D':
        return p[1] == 'e' && p[2] == 'c' ? 12 : 0;
    default:
        return 0;
    }
}

// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
// (years counted from March, so the leap day comes last).
std::int64_t days_from_civil(int year, int month, int day) {
    std::int64_t y = year - (month <= 2 ? 1 : 0);
    std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    std::int64_t year_of_era = y - era * 400;
    std::int64_t month_from_march = month > 2 ? month - 3 : month + 9;
    std::int64_t day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    std::int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

// Comparisons with literals, of a size the compiler knows (inlined: these
// run for every line of a large log).
template <std::size_t N> inline bool starts_with(sv text, const char (&prefix)[N]) {
    return text.size() >= N - 1 && std::memcmp(text.data(), prefix, N - 1) == 0;
}
template <std::size_t N> inline bool equals(sv text, const char (&word)[N]) {
    return text.size() == N - 1 && std::memcmp(text.data(), word, N - 1) == 0;
}
template <std::size_t N> inline bool ends_with(sv text, const char (&suffix)[N]) {
    return text.size() >= N - 1 &&
           std::memcmp(text.data() + text.size() - (N - 1), suffix, N - 1) == 0;
}

// Words are short: a plain loop beats a library call here.
inline sv first_word(sv text) {
    std::size_t i = 0;
    while (i < text.size() && text[i] != ' ')
        ++i;
    return text.substr(0, i);
}

sv after(sv text, std::size_t n) {
    return n >= text.size() ? sv() : text.substr(n);
}

// "<digits>.<digits> " at the start (splogger's and qmail's own timestamp).
// Eight bytes that are all ASCII digits (a word at a time).
inline bool eight_digits(const char* p) {
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    constexpr std::uint64_t high = 0x8080808080808080ULL;
    return (x & high) == 0 &&
           (((x - 0x3030303030303030ULL) | (0x3939393939393939ULL - x)) & high) == 0;
}

sv skip_epoch(sv body) {
    // The usual "1374486777.611077 " first, then any digits.digits
    if (body.size() > 18 && body[10] == '.' && body[17] == ' ' && eight_digits(body.data()) &&
        eight_digits(body.data() + 2)) {
        std::uint64_t x; // bytes 9..16, the '.' at 10 read as a digit
        std::memcpy(&x, body.data() + 9, 8);
        x = (x & ~std::uint64_t{0xff00}) | 0x3000;
        char eight[8];
        std::memcpy(eight, &x, 8);
        if (eight_digits(eight)) return body.substr(18);
    }
    const char* p = body.data();
    const char* end = p + body.size();
    const char* q = p;
    while (q < end && static_cast<unsigned>(*q - '0') <= 9)
        ++q;
    if (q == p || q >= end || *q != '.') return body;
    ++q;
    while (q < end && static_cast<unsigned>(*q - '0') <= 9)
        ++q;
    if (q >= end || *q != ' ') return body;
    return sv(q + 1, static_cast<std::size_t>(end - q - 1));
}

// authguard's log escaping undone: "\xNN" becomes the byte.
sv unescape(sv text, std::string& scratch) {
    if (text.find('\\') == sv::npos) return text;
    scratch.clear();
    auto hex = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 3 < text.size() && text[i + 1] == 'x' && hex(text[i + 2]) >= 0 &&
            hex(text[i + 3]) >= 0) {
            scratch += static_cast<char>(hex(text[i + 2]) * 16 + hex(text[i + 3]));
            i += 3;
        } else {
            scratch += text[i];
        }
    }
    return scratch;
}

// The value of " key=" up to the next space; nullopt-like empty `found`.
bool field(sv body, sv key, sv& value) {
    std::size_t at = 0;
    for (;;) {
        at = body.find(key, at);
        if (at == sv::npos) return false;
        if (at == 0 || body[at - 1] == ' ') break;
        at += key.size();
    }
    value = body.substr(at + key.size());
    value = value.substr(0, value.find(' '));
    return true;
}

void set_skip(Line& l, SkipReason reason) {
    l.kind = Kind::skipped;
    l.reason = reason;
}

void set_auth(Line& l, Source source, sv user, sv address, Outcome outcome, sv service) {
    l.kind = Kind::auth;
    l.auth = AuthRecord{user, address, outcome, source, service, 1, 0, {}};
}

// "user@domain:IP" (or "user:IP"): the domain never holds a colon, IPv6 does.
bool split_user_address(sv token, sv& user, sv& address) {
    const void* at_sign = ::memrchr(token.data(), '@', token.size());
    std::size_t from =
        at_sign ? static_cast<std::size_t>(static_cast<const char*>(at_sign) - token.data()) : 0;
    const void* colon_at = std::memchr(token.data() + from, ':', token.size() - from);
    if (!colon_at) return false;
    std::size_t colon = static_cast<std::size_t>(static_cast<const char*>(colon_at) - token.data());
    user = token.substr(0, colon);
    address = token.substr(colon + 1);
    return true;
}

// vchkpw's lines, after "vchkpw-<name>: " (see the header).
void vchkpw_line(Line& l, sv logname, sv text, std::string& scratch_service) {
    Outcome outcome;
    if (!text.empty() && text[0] == '(') { // "(PLAIN) login success ": the most common, first
        const void* close_at = std::memchr(text.data(), ')', text.size());
        std::size_t close =
            close_at ? static_cast<std::size_t>(static_cast<const char*>(close_at) - text.data())
                     : sv::npos;
        if (close == sv::npos || close + 1 >= text.size() || text[close + 1] != ' ' ||
            !starts_with(after(text, close + 2), "login success "))
            return;
        outcome = Outcome::success;
    } else if (starts_with(text, "login success ")) { // older vpopmail: no auth type
        outcome = Outcome::success;
    } else if (starts_with(text, "password fail ") ||
               starts_with(text, "vpopmail user not found ") ||
               starts_with(text, "system password fail ") ||
               starts_with(text, "system user not found ")) {
        outcome = Outcome::bad_password;
    } else if (starts_with(text, "system password login success ")) {
        outcome = Outcome::success;
    } else {
        // "<service> access denied u@d:IP" (exit 1: not allowed this service)
        auto word = first_word(text);
        if (!starts_with(after(text, word.size() + 1), "access denied ")) return;
        outcome = Outcome::bad_password;
    }
    while (!text.empty() && text.back() == ' ')
        text.remove_suffix(1);
    const void* space = ::memrchr(text.data(), ' ', text.size());
    sv token =
        space ? text.substr(
                    static_cast<std::size_t>(static_cast<const char*>(space) - text.data()) + 1)
              : text;
    sv user, address;
    if (!split_user_address(token, user, address)) return set_skip(l, SkipReason::malformed);

    sv service = "unknown";
    if (starts_with(logname, "vchkpw-")) {
        service = logname.substr(7);
        bool port = !service.empty() && service.size() <= 5 && is_digit(service[0]);
        for (std::size_t i = 1; port && i < service.size(); ++i)
            port = is_digit(service[i]);
        if (port) {
            scratch_service = service_for_port(service);
            service = scratch_service;
        }
    }
    set_auth(l, Source::vchkpw, user, address, outcome, service);
}

bool is_verdict(sv word) {
    return equals(word, "allow") || equals(word, "alert") || equals(word, "tempfail") ||
           equals(word, "reject") || equals(word, "lock") || equals(word, "refuse-locked");
}

// A line of the hooks' log-file copy written before it was stamped
// ("lock user=... time=1374486777 ..."): its time is its time= field.
bool bare_authguard_time(sv text, std::int64_t& time) {
    if (!is_verdict(first_word(text)) || text.find(" user=") == sv::npos) return false;
    sv value;
    return field(text, "time=", value) && parse_number(value, time) && time > 0;
}

void authguard_line(Line& l, sv body, std::string& scratch_user, std::string& scratch_address,
                    std::string& scratch_service) {
    sv verdict = first_word(body);
    if (!is_verdict(verdict)) return;
    sv user, address, service, outcome_text;
    if (!field(body, "user=", user)) return; // a message decision (sender=)
    if (!field(body, "address=", address) || !field(body, "outcome=", outcome_text))
        return set_skip(l, SkipReason::malformed);
    if (!field(body, "service=", service)) service = "unknown";
    // A login refused before its password was checked (authguard-policyd,
    // Dovecot's allow): no login to count.
    if (equals(outcome_text, "unchecked")) return;
    Outcome outcome;
    if (equals(outcome_text, "success"))
        outcome = Outcome::success;
    else if (equals(outcome_text, "bad-password"))
        outcome = Outcome::bad_password;
    else if (equals(outcome_text, "temporary-failure"))
        outcome = Outcome::temporary_failure;
    else
        return set_skip(l, SkipReason::malformed);
    set_auth(l, Source::authguard, unescape(user, scratch_user), unescape(address, scratch_address),
             outcome, unescape(service, scratch_service));
    l.auth.verdict = verdict;
}

// "pid N Accept::AUTH::<method> P:.. S:IP:host ... ?~ 'user'" (the part after "qmail-smtpd: ")
void smtpd_line(Line& l, sv body) {
    if (!starts_with(body, "pid ")) return;
    body.remove_prefix(4);
    sv pid_text = first_word(body);
    std::uint64_t pid = 0;
    if (!parse_number(pid_text, pid)) return set_skip(l, SkipReason::malformed);
    body = after(body, pid_text.size() + 1);
    Outcome outcome;
    if (starts_with(body, "Accept::AUTH::"))
        outcome = Outcome::success;
    else if (starts_with(body, "Reject::AUTH::"))
        outcome = Outcome::bad_password;
    else
        return;
    sv method = first_word(body.substr(14));
    if (equals(method, "Auth_Meth")) return; // a mechanism refused before any password
    while (!body.empty() && body.back() == ' ')
        body.remove_suffix(1);
    auto quote = body.rfind("?~ '");
    if (quote == sv::npos) quote = body.rfind("?= '");
    if (quote == sv::npos || body.back() != '\'' || body.size() < quote + 5)
        return set_skip(l, SkipReason::malformed);
    sv user = body.substr(quote + 4, body.size() - quote - 5);
    auto s = body.find(" S:");
    if (s == sv::npos || s > quote) return set_skip(l, SkipReason::malformed);
    sv host = first_word(body.substr(s + 3));
    auto colon = host.rfind(':');
    sv address = colon == sv::npos ? host : host.substr(0, colon);
    set_auth(l, Source::qmail_smtpd, user, address, outcome, "smtp");
    l.auth.session = pid;
}

// Dovecot's login process: `service` is "imap" of "imap-login", `text` what follows "imap-login: ".
void dovecot_line(Line& l, sv service, sv text) {
    if (starts_with(text, "Info: ")) text.remove_prefix(6);
    Outcome outcome;
    std::uint32_t attempts = 1;
    if (starts_with(text, "Login: ")) {
        outcome = Outcome::success;
    } else {
        auto failed = text.find("(auth failed, ");
        if (failed == sv::npos) return;
        sv count = first_word(text.substr(failed + 14));
        if (!parse_number(count, attempts) || attempts == 0)
            return set_skip(l, SkipReason::malformed);
        outcome = Outcome::bad_password;
    }
    auto u = text.find("user=<");
    if (u == sv::npos) return; // no user name given: nothing to attribute
    auto end = text.find('>', u + 6);
    if (end == sv::npos) return set_skip(l, SkipReason::malformed);
    sv user = text.substr(u + 6, end - u - 6);
    if (user.empty()) return;
    sv address;
    if (!field(text, "rip=", address)) return set_skip(l, SkipReason::malformed);
    if (!address.empty() && address.back() == ',') address.remove_suffix(1);
    set_auth(l, Source::dovecot, user, address, outcome, service);
    l.auth.attempts = attempts;
}

// Postfix's smtpd (smtpd.c, smtpd_sasl_glue.c), under any syslog_name
// ending in "/smtpd". The service is what master.cf's "-o syslog_name="
// says: postfix/submission, postfix/smtps or postfix/submissions (port 465,
// smtps here as in service_for_port); any other name is smtp.
sv postfix_service(sv tag) {
    sv name = tag.substr(0, tag.size() - 6); // without "/smtpd"
    auto slash = name.rfind('/');
    sv last = slash == sv::npos ? name : name.substr(slash + 1);
    if (equals(last, "submission")) return "submission";
    if (equals(last, "smtps") || equals(last, "submissions")) return "smtps";
    return "smtp";
}

// Postfix's "name[address]", or "name[address]:port" with
// smtpd_client_port_logging = yes (SMTPD_BUILD_NAMADDRPORT). The address is
// bare (smtpd keeps "IPv6:" for rfc_addr, the Received: field): a prefix is
// dropped all the same. `port` is 0 when not logged.
bool postfix_client(sv namaddr, sv& address, std::uint32_t& port) {
    auto close = namaddr.rfind(']');
    auto open = close == sv::npos ? sv::npos : namaddr.rfind('[', close);
    if (open == sv::npos) return false;
    address = namaddr.substr(open + 1, close - open - 1);
    if (address.size() > 5 && ::strncasecmp(address.data(), "ipv6:", 5) == 0)
        address.remove_prefix(5);
    sv rest = namaddr.substr(close + 1);
    port = 0;
    if (rest.empty()) return true;
    return rest[0] == ':' && parse_number(rest.substr(1), port) && port > 0 && port <= 65535;
}

// Where the next ", key=" of Postfix's "a=1, b=2" list begins (npos: none).
std::size_t next_postfix_field(sv text) {
    for (std::size_t at = text.find(", "); at != sv::npos; at = text.find(", ", at + 1)) {
        std::size_t i = at + 2;
        while (i < text.size() && ((text[i] >= 'a' && text[i] <= 'z') || text[i] == '_'))
            ++i;
        if (i > at + 2 && i < text.size() && text[i] == '=') return at;
    }
    return sv::npos;
}

bool is_alnum(char c) {
    return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// `tag` is "postfix/submission/smtpd" (or another ".../smtpd"), `body` what
// follows "tag[pid]: ", `pid` 0 when the line has none.
void postfix_line(Line& l, sv tag, sv body, std::uint64_t pid) {
    sv service = postfix_service(tag);
    sv address;
    std::uint32_t port = 0;
    if (starts_with(body, "warning: ")) {
        // "warning: name[IP]: SASL LOGIN authentication failed: REASON, sasl_username=U".
        // Postfix names the user here only since 20231006 (3.9, and the stable
        // updates of late 2023: Debian 12's 3.7.11 does); a line without a
        // user, or with "(unavailable)", has nobody to count the failure
        // against and is ignored. The name is the client's own: taken whole
        // to the end of the line, the last field.
        sv text = body.substr(9);
        auto sasl = text.find(": SASL ");
        if (sasl == sv::npos) return;
        sv rest = text.substr(sasl + 7);
        sv method = first_word(rest);
        if (!starts_with(after(rest, method.size() + 1), "authentication failed: ")) return;
        auto u = rest.find(", sasl_username=");
        if (u == sv::npos) return;
        sv user = rest.substr(u + 16);
        if (user.empty() || equals(user, "(unavailable)")) return;
        if (!postfix_client(text.substr(0, sasl), address, port))
            return set_skip(l, SkipReason::malformed);
        // each failed AUTH is one attempt, as vchkpw's lines: no session
        return set_auth(l, Source::postfix, user, address, Outcome::bad_password, service);
    }
    // "QUEUEID: client=name[IP][:port], sasl_method=M, sasl_username=U[, sasl_sender=S]
    // [, orig_queue_id=Q][, orig_client=C]": a short (hex) or long queue id.
    std::size_t i = 0;
    while (i < body.size() && i <= 32 && is_alnum(body[i]))
        ++i;
    if (i == 0 || !starts_with(body.substr(i), ": client=")) return;
    sv rest = body.substr(i + 9);
    auto u = rest.find(", sasl_username=");
    if (u == sv::npos) return; // mail from a client that did not log in: most lines
    sv user = rest.substr(u + 16);
    user = user.substr(0, next_postfix_field(user)); // (spaces are kept: printable())
    if (user.empty()) return;
    if (!postfix_client(rest.substr(0, rest.find(", ")), address, port))
        return set_skip(l, SkipReason::malformed);
    set_auth(l, Source::postfix, user, address, Outcome::success, service);
    // Logged once per message: one session sending three messages logs three
    // lines with its pid (and its port, when logged). Scan and follow count
    // the session's login once, as qmail-smtpd's Accept::AUTH per RCPT.
    if (pid != 0)
        l.auth.session = std::uint64_t{1} << 63 | std::uint64_t{port} << 32 | (pid & 0xffffffff);
}

// qmail-send's lines (after splogger's timestamp, if any).
// Digits up to `stop` at text[at...]: the number, `at` past the stop.
inline bool number_until(sv text, std::size_t& at, char stop, std::uint64_t& out) {
    std::uint64_t v = 0;
    std::size_t start = at;
    while (at < text.size() && at - start < 19) {
        unsigned d = static_cast<unsigned char>(text[at]) - static_cast<unsigned>('0');
        if (d > 9) break;
        v = v * 10 + d;
        ++at;
    }
    if (at == start || at >= text.size() || text[at] != stop) return false;
    ++at;
    out = v;
    return true;
}

void qmail_send_line(Line& l, sv body) {
    l.message = MessageRecord{};
    std::size_t at = 0;
    switch (body.empty() ? '\0' : body[0]) { // (the callers checked qmail_send_text)
    case 'i': {
        // info msg N: bytes B from <S> qp P uid U
        at = 9;
        if (!number_until(body, at, ':', l.message.msg)) return set_skip(l, SkipReason::malformed);
        sv rest = body.substr(at);
        std::size_t from;
        if (starts_with(rest, " bytes ")) { // the usual order: skip the size
            std::size_t i = 7;
            while (i < rest.size() && is_digit(rest[i]))
                ++i;
            from = starts_with(rest.substr(i), " from <") ? i : rest.find(" from <");
        } else {
            from = rest.find(" from <");
        }
        if (from == sv::npos) return set_skip(l, SkipReason::malformed);
        // the sender ends at "> qp " (or the last '>'); it may hold '>' itself
        std::size_t close = sv::npos;
        for (std::size_t i = from + 7; i < rest.size();) {
            const void* gt = std::memchr(rest.data() + i, '>', rest.size() - i);
            if (!gt) break;
            std::size_t at_gt =
                static_cast<std::size_t>(static_cast<const char*>(gt) - rest.data());
            if (starts_with(rest.substr(at_gt), "> qp ")) {
                close = at_gt;
                break;
            }
            i = at_gt + 1;
        }
        if (close == sv::npos) close = rest.rfind('>');
        if (close == sv::npos || close < from + 7) return set_skip(l, SkipReason::malformed);
        l.message.sender = rest.substr(from + 7, close - from - 7);
        l.kind = Kind::message;
        return;
    }
    case 's': {
        // starting delivery D: msg N to local|remote R
        at = 18;
        if (!number_until(body, at, ':', l.message.delivery) ||
            !starts_with(body.substr(at), " msg "))
            return set_skip(l, SkipReason::malformed);
        at += 5;
        if (!number_until(body, at, ' ', l.message.msg)) return set_skip(l, SkipReason::malformed);
        sv rest = body.substr(at);
        if (starts_with(rest, "to remote "))
            l.message.remote = true;
        else if (!starts_with(rest, "to local "))
            return set_skip(l, SkipReason::malformed);
        l.message.recipient = rest.substr(l.message.remote ? 10 : 9);
        l.kind = Kind::delivery_start;
        return;
    }
    case 'd': {
        // delivery D: success|failure|deferral: ...
        at = 9;
        if (!number_until(body, at, ':', l.message.delivery)) return;
        sv rest = body.substr(at);
        if (starts_with(rest, " deferral"))
            l.message.deferred = true;
        else if (!starts_with(rest, " success") && !starts_with(rest, " failure"))
            return;
        l.kind = Kind::delivery_done;
        return;
    }
    case 'e':
        if (!parse_number(body.substr(8), l.message.msg)) return set_skip(l, SkipReason::malformed);
        l.kind = Kind::message_end;
        return;
    default:
        return;
    }
}

// One of the qmail-send lines qmail_send_line reads (told by the first
// byte first: this runs for most lines of a maillog).
bool qmail_send_text(sv body) {
    if (body.empty()) return false;
    switch (body[0]) {
    case 'i':
        return starts_with(body, "info msg ");
    case 's':
        return starts_with(body, "starting delivery ");
    case 'd':
        return starts_with(body, "delivery ");
    case 'e':
        return starts_with(body, "end msg ");
    default:
        return false;
    }
}

// A login's user name as every reader wants it: not empty, UTF-8.
void check_user(Line& l);

} // namespace

bool valid_utf8(std::string_view s) {
    // Mostly ASCII: eight bytes at a time while no high bit is set.
    std::size_t ascii = 0;
    for (std::uint64_t x; ascii + 8 <= s.size(); ascii += 8) {
        std::memcpy(&x, s.data() + ascii, 8);
        if (x & 0x8080808080808080ULL) break;
    }
    s.remove_prefix(ascii);
    auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xbf) {
        return k < s.size() && at(k) >= lo && at(k) <= hi;
    };
    for (std::size_t i = 0; i < s.size();) {
        unsigned char c = at(i);
        std::size_t n = 0;
        if (c < 0x80)
            n = 1;
        else if (c >= 0xc2 && c <= 0xdf)
            n = cont(i + 1) ? 2 : 0;
        else if (c == 0xe0)
            n = cont(i + 1, 0xa0) && cont(i + 2) ? 3 : 0;
        else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
            n = cont(i + 1) && cont(i + 2) ? 3 : 0;
        else if (c == 0xed)
            n = cont(i + 1, 0x80, 0x9f) && cont(i + 2) ? 3 : 0;
        else if (c == 0xf0)
            n = cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0;
        else if (c >= 0xf1 && c <= 0xf3)
            n = cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
        else if (c == 0xf4)
            n = cont(i + 1, 0x80, 0x8f) && cont(i + 2) && cont(i + 3) ? 4 : 0;
        if (n == 0) return false;
        i += n;
    }
    return true;
}

void Parser::set_reference(std::int64_t unix_time, int year) {
    reference_ = unix_time;
    if (year > 0) forced_year_ = year;
}

int Parser::year_for(int month, int day) {
    auto latest_before_reference = [&] {
        std::int64_t ref = reference_ ? reference_ : static_cast<std::int64_t>(std::time(nullptr));
        ref += 86400; // a clock a little behind the log's is no reason for last year
        std::time_t t = static_cast<std::time_t>(ref);
        std::tm tm{};
        ::localtime_r(&t, &tm);
        int year = tm.tm_year + 1900;
        if (month > tm.tm_mon + 1 || (month == tm.tm_mon + 1 && day > tm.tm_mday)) --year;
        return year;
    };
    if (mode_ == YearMode::before_reference) return latest_before_reference();
    if (year_ == 0) {
        year_ = forced_year_ ? forced_year_ : latest_before_reference();
        last_month_ = month;
        return year_;
    }
    if (last_month_ - month > 6) { // December, then January: a new year
        ++year_;
    } else if (month - last_month_ > 6) { // a straggler from the old year
        return year_ - 1;
    }
    last_month_ = month;
    return year_;
}

std::int64_t Parser::local_time(int year, int month, int day, int hour, int minute, int second) {
    HourCache& c = hour_cache_;
    if (c.year != year || c.month != month || c.day != day || c.hour != hour) {
        std::tm tm{};
        tm.tm_year = year - 1900;
        tm.tm_mon = month - 1;
        tm.tm_mday = day;
        tm.tm_hour = hour;
        tm.tm_isdst = -1;
        c = {year, month, day, hour, static_cast<std::int64_t>(std::mktime(&tm))};
    }
    return c.base + minute * 60 + second;
}

// "Jul 22 18:52:46 " / "Jul  2 18:52:46 " / "Jul 02 18:52:46 "
std::size_t Parser::bsd_time(sv text, std::int64_t& time) {
    if (text.size() < 16 || text[3] != ' ' || text[6] != ' ' || text[9] != ':' || text[12] != ':' ||
        text[15] != ' ')
        return 0;
    int second = two_digits(text, 13);
    if (second < 0 || second > 60) return 0;
    // Most lines share their minute with the line before.
    if (last_stamp_valid_ && same_minute(text.data(), last_stamp_)) {
        time = last_stamp_time_ + second;
        return 16;
    }
    int month = month_number(text.data());
    int day = text[4] == ' ' ? (is_digit(text[5]) ? digit(text[5]) : -1) : two_digits(text, 4);
    int hour = two_digits(text, 7), minute = two_digits(text, 10);
    if (month == 0 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59)
        return 0;
    last_stamp_time_ = local_time(year_for(month, day), month, day, hour, minute, 0);
    std::memcpy(last_stamp_, text.data(), 12);
    last_stamp_valid_ = true;
    time = last_stamp_time_ + second;
    return 16;
}

// "2013-07-22T18:52:46[.frac][Z|+09:00|+0900] " or "2013-07-22 18:52:46[.frac] "
std::size_t Parser::iso_time(sv text, std::int64_t& time) {
    if (text.size() < 20 || text[4] != '-' || text[7] != '-' ||
        (text[10] != 'T' && text[10] != ' ') || text[13] != ':' || text[16] != ':')
        return 0;
    int y1 = two_digits(text, 0), y2 = two_digits(text, 2);
    int month = two_digits(text, 5), day = two_digits(text, 8);
    int hour = two_digits(text, 11), minute = two_digits(text, 14), second = two_digits(text, 17);
    if (y1 < 0 || y2 < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 ||
        hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60)
        return 0;
    int year = y1 * 100 + y2;
    std::size_t i = 19;
    if (i < text.size() && (text[i] == '.' || text[i] == ',')) {
        ++i;
        while (i < text.size() && is_digit(text[i]))
            ++i;
    }
    bool zoned = false;
    std::int64_t offset = 0;
    if (i < text.size() && text[i] == 'Z') {
        zoned = true;
        ++i;
    } else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
        int oh = two_digits(text, i + 1);
        std::size_t m_at = i + 3 < text.size() && text[i + 3] == ':' ? i + 4 : i + 3;
        int om = two_digits(text, m_at);
        if (oh < 0 || om < 0) return 0;
        offset = (oh * 3600 + om * 60) * (text[i] == '-' ? -1 : 1);
        zoned = true;
        i = m_at + 2;
    }
    if (i >= text.size() || text[i] != ' ') return 0;
    if (zoned)
        time =
            days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
    else
        time = local_time(year, month, day, hour, minute, second);
    return i + 1;
}

std::size_t Parser::parse_time(sv text, std::int64_t& time) {
    if (text.empty()) return 0;
    char c = text[0];
    if (c == '@') { // multilog: @ + 24 hex digits (TAI64N) + space
        if (text.size() < 26 || text[25] != ' ') return 0;
        std::uint64_t label = 0;
        for (std::size_t i = 1; i <= 24; ++i) {
            char h = text[i];
            int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
            if (v < 0) return 0;
            if (i <= 16) label = label * 16 + static_cast<std::uint64_t>(v);
        }
        if (label < static_cast<std::uint64_t>(tai64_unix_offset)) return 0;
        time = static_cast<std::int64_t>(label - static_cast<std::uint64_t>(tai64_unix_offset));
        return 26;
    }
    if (is_digit(c)) return iso_time(text, time);
    if (c >= 'A' && c <= 'S') return bsd_time(text, time);
    return 0;
}

Line Parser::parse(std::string_view line) {
    Line l;
    parse(line, l);
    return l;
}

void Parser::parse(std::string_view line, Line& l) {
    Head head;
    if (split(line, l, head)) parse_body(head, l);
}

bool Parser::split(std::string_view line, Line& l, Head& head) {
    l.kind = Kind::ignored;
    l.reason = SkipReason::none;
    l.time = 0;
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
        line.remove_suffix(1);
    if (line.empty()) return false;
    std::int64_t time = 0;
    sv text = line;
    // Most syslog lines share their minute with the line before.
    if (last_stamp_valid_ && text.size() > 16 && same_minute(text.data(), last_stamp_) &&
        text[12] == ':' && is_digit(text[13]) && is_digit(text[14]) && text[15] == ' ' &&
        (text[13] < '6' || (text[13] == '6' && text[14] == '0'))) {
        time = last_stamp_time_ + digit(text[13]) * 10 + digit(text[14]);
        text.remove_prefix(16);
    } else if (std::size_t stamp_length = parse_time(text, time)) {
        text.remove_prefix(stamp_length);
    } else if (!bare_authguard_time(text, time)) {
        set_skip(l, SkipReason::unknown_format);
        return false;
    }
    l.time = time;

    // "[host ]tag[pid]: body" - a tag is a word ending in ':'; syslog has
    // a host before it, multilog and Dovecot's own file do not. Runs of
    // lines from one program repeat "host tag: " byte for byte.
    sv tag, body = text;
    std::size_t cached = 0;
    const Prefix* hit = nullptr;
    for (const Prefix& p : prefixes_) {
        if (p.length == 0 || text.size() <= p.length || !same_bytes(text.data(), p.bytes, p.length))
            continue;
        cached = p.length;
        if (p.pid) { // "host tag[" matched: the pid differs from line to line
            std::size_t i = cached;
            while (i < text.size() && is_digit(text[i]))
                ++i;
            cached = i > p.length && i + 2 < text.size() && text[i] == ']' && text[i + 1] == ':' &&
                             text[i + 2] == ' '
                         ? i + 3
                         : 0;
        }
        if (cached) {
            hit = &p;
            break;
        }
    }
    if (hit) {
        tag = sv(text.data() + hit->tag_at, hit->tag_length);
        body = text.substr(cached);
        // the busiest programs' prefixes move to the front
        if (hit != &prefixes_[0])
            std::swap(prefixes_[static_cast<std::size_t>(hit - prefixes_.data())],
                      prefixes_[static_cast<std::size_t>(hit - prefixes_.data()) - 1]);
    } else {
        sv t1 = first_word(text);
        if (!t1.empty() && t1.back() == ':') {
            tag = t1;
            body = after(text, t1.size() + 1);
        } else if (t1.size() < text.size()) {
            sv rest = text.substr(t1.size() + 1);
            sv t2 = first_word(rest);
            if (!t2.empty() && t2.back() == ':') {
                tag = t2;
                body = after(rest, t2.size() + 1);
            }
        }
        if (!tag.empty()) {
            tag.remove_suffix(1);
            bool pid = !tag.empty() && tag.back() == ']';
            if (pid) tag = tag.substr(0, tag.rfind('['));
            // remember "host tag: ", or "host tag[" when a pid follows
            std::size_t length =
                pid ? static_cast<std::size_t>(tag.data() + tag.size() + 1 - text.data())
                    : static_cast<std::size_t>(body.data() - text.data());
            if (length <= sizeof(Prefix::bytes) && body.data() > text.data()) {
                Prefix& p = prefixes_[next_prefix_++ % prefixes_.size()];
                std::memcpy(p.bytes, text.data(), length);
                p.length = length;
                p.pid = pid;
                p.tag_at = static_cast<std::size_t>(tag.data() - text.data());
                p.tag_length = tag.size();
            }
        }
    }
    head = Head{tag, body, text};
    return true;
}

void Parser::parse_body(const Head& head, Line& l) {
    sv tag = head.tag, body = head.body, text = head.text;
    // "vchkpw-submission: text" after vpopmail's (or another) syslog tag
    auto vchkpw_in_body = [&]() {
        // the log name ends at the first ": " (a name never holds a space)
        const void* colon_at = std::memchr(body.data(), ':', body.size());
        if (!colon_at) return;
        std::size_t colon =
            static_cast<std::size_t>(static_cast<const char*>(colon_at) - body.data());
        sv logname = body.substr(0, colon);
        if (colon + 1 < body.size() && body[colon + 1] != ' ') return;
        if (std::memchr(logname.data(), ' ', logname.size())) return;
        vchkpw_line(l, logname, after(body, colon + 2), scratch_service_);
    };
    // Postfix's smtpd under any syslog_name ("postfix/submission/smtpd")
    if (tag.size() > 6 && ends_with(tag, "/smtpd")) {
        // the pid: "tag[1234]: " (the tag and the text are views of one line)
        std::uint64_t pid = 0;
        std::size_t at = static_cast<std::size_t>(tag.data() + tag.size() - text.data());
        if (tag.data() >= text.data() && at < text.size() && text[at] == '[') {
            std::size_t end = text.find(']', at);
            if (end == sv::npos || !parse_number(text.substr(at + 1, end - at - 1), pid)) pid = 0;
        }
        postfix_line(l, tag, body, pid);
        return check_user(l);
    }
    switch (tag.empty() ? '\0' : tag[0]) {
    case 'q':
        if (equals(tag, "qmail")) { // splogger's ident for qmail-send (the bulk of a maillog)
            sv message = skip_epoch(body);
            if (qmail_send_text(message))
                qmail_send_line(l, message);
            else if (starts_with(message, "qmail-smtpd: "))
                smtpd_line(l, message.substr(13));
            return;
        }
        if (equals(tag, "qmail-smtpd")) smtpd_line(l, body);
        break;
    case 's':
        if (equals(tag, "spamd")) return; // SpamAssassin's lines, many and of no use
        goto other;
    case 'v':
        if (starts_with(tag, "vchkpw"))
            vchkpw_line(l, tag, body, scratch_service_);
        else if (starts_with(body, "vchkpw"))
            vchkpw_in_body();
        else
            return;
        break;
    case 'a':
        if (!equals(tag, "authguard")) return;
        authguard_line(l, body, scratch_user_, scratch_address_, scratch_service_);
        break;
    case 'd':
        if (equals(tag, "dovecot")) {
            sv process = first_word(body);
            if (!ends_with(process, "-login:")) return;
            dovecot_line(l, process.substr(0, process.size() - 7), after(body, process.size() + 1));
            break;
        }
        [[fallthrough]];
    default:
    other:
        // The hooks' own log-file copy: "[@stamp ]lock user=U ..." with no
        // tag (a user name ending in ':' can look like one).
        if ((tag.empty() || starts_with(tag, "user=")) && is_verdict(first_word(text))) {
            authguard_line(l, text, scratch_user_, scratch_address_, scratch_service_);
            break;
        }
        if (ends_with(tag, "-login")) {
            dovecot_line(l, tag.substr(0, tag.size() - 6), body);
            break;
        }
        if (equals(tag, "qmail-smtpd")) {
            smtpd_line(l, body);
            break;
        }
        if (starts_with(body, "vchkpw")) { // another syslog ident
            vchkpw_in_body();
            break;
        }
        {
            // qmail-send (splogger's "qmail:" tag, or bare under multilog), or
            // qmail-smtpd's stderr through splogger.
            sv candidate = tag.empty() || qmail_send_text(text) ? text : skip_epoch(body);
            if (qmail_send_text(candidate))
                qmail_send_line(l, candidate);
            else if (starts_with(candidate, "qmail-smtpd: "))
                smtpd_line(l, candidate.substr(13));
            else
                return;
        }
    }
    check_user(l);
}

namespace {
void check_user(Line& l) {
    if (l.kind == Kind::auth) {
        if (l.auth.user.empty()) return set_skip(l, SkipReason::bad_user);
        if (!valid_utf8(l.auth.user)) return set_skip(l, SkipReason::invalid_utf8);
    }
}
} // namespace

bool parse_time_argument(std::string_view text, std::int64_t& out) {
    if (!text.empty() && text[0] == '@') text.remove_prefix(1);
    if (parse_number(text, out)) return out >= 0;
    std::string padded(text);
    if (padded.size() == 10) padded += " 00:00:00";
    padded += ' ';
    Parser parser;
    sv view = padded;
    std::int64_t time = 0;
    if (parser.parse_time(view, time) != view.size()) return false;
    out = time;
    return true;
}

} // namespace authguard::logscan
