// logscan.cpp - the mail log line parser (see logscan.hpp for the formats).
//
// Built for speed on large files: no allocation per line, timestamps
// cached per second and per hour, and every program's line recognised by
// its fixed prefix rather than by searching the whole line.
#include "authguard/logscan.hpp"

#include <charconv>
#include <cstring>
#include <ctime>

namespace authguard::logscan {

std::string_view to_string(Source source) {
    switch (source) {
    case Source::vchkpw: return "vchkpw";
    case Source::authguard: return "authguard";
    case Source::qmail_smtpd: return "qmail-smtpd";
    case Source::dovecot: return "dovecot";
    }
    return "unknown";
}

std::string_view to_string(SkipReason reason) {
    switch (reason) {
    case SkipReason::none: return "none";
    case SkipReason::unknown_format: return "unknown-format";
    case SkipReason::malformed: return "malformed";
    case SkipReason::bad_address: return "bad-address";
    case SkipReason::bad_user: return "bad-user";
    case SkipReason::invalid_utf8: return "invalid-utf8";
    case SkipReason::too_long: return "too-long";
    case SkipReason::unterminated: return "unterminated";
    case SkipReason::count_: break;
    }
    return "unknown";
}

namespace {

using sv = std::string_view;

constexpr std::int64_t tai64_unix_offset = 4611686018427387914LL; // 2^62 + 10, as tai64nlocal

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int digit(char c) { return c - '0'; }

// Two digits at text[at]; -1 when not digits.
int two_digits(sv text, std::size_t at) {
    if (at + 2 > text.size() || !is_digit(text[at]) || !is_digit(text[at + 1])) return -1;
    return digit(text[at]) * 10 + digit(text[at + 1]);
}

template <class Number> bool parse_number(sv text, Number& out) {
    if (text.empty()) return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size();
}

int month_number(const char* p) {
    // Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec
    switch (p[0]) {
    case 'J':
        if (p[1] == 'a' && p[2] == 'n') return 1;
        if (p[1] == 'u' && p[2] == 'n') return 6;
        if (p[1] == 'u' && p[2] == 'l') return 7;
        return 0;
    case 'F': return p[1] == 'e' && p[2] == 'b' ? 2 : 0;
    case 'M':
        if (p[1] == 'a' && p[2] == 'r') return 3;
        if (p[1] == 'a' && p[2] == 'y') return 5;
        return 0;
    case 'A':
        if (p[1] == 'p' && p[2] == 'r') return 4;
        if (p[1] == 'u' && p[2] == 'g') return 8;
        return 0;
    case 'S': return p[1] == 'e' && p[2] == 'p' ? 9 : 0;
    case 'O': return p[1] == 'c' && p[2] == 't' ? 10 : 0;
    case 'N': return p[1] == 'o' && p[2] == 'v' ? 11 : 0;
    case 'D': return p[1] == 'e' && p[2] == 'c' ? 12 : 0;
    default: return 0;
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

bool starts_with(sv text, sv prefix) { return text.substr(0, prefix.size()) == prefix; }

sv first_word(sv text) { return text.substr(0, text.find(' ')); }

sv after(sv text, std::size_t n) { return n >= text.size() ? sv() : text.substr(n); }

// "<digits>.<digits> " at the start (splogger's and qmail's own timestamp).
sv skip_epoch(sv body) {
    std::size_t i = 0;
    while (i < body.size() && is_digit(body[i])) ++i;
    if (i == 0 || i >= body.size() || body[i] != '.') return body;
    ++i;
    while (i < body.size() && is_digit(body[i])) ++i;
    if (i >= body.size() || body[i] != ' ') return body;
    return body.substr(i + 1);
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

Line ignored(std::int64_t time) {
    Line l;
    l.time = time;
    return l;
}

Line skip(SkipReason reason, std::int64_t time) {
    Line l;
    l.kind = Kind::skipped;
    l.reason = reason;
    l.time = time;
    return l;
}

Line auth_line(std::int64_t time, Source source, sv user, sv address, Outcome outcome,
               sv service) {
    Line l;
    l.kind = Kind::auth;
    l.time = time;
    l.auth.source = source;
    l.auth.user = user;
    l.auth.address = address;
    l.auth.outcome = outcome;
    l.auth.service = service;
    return l;
}

// "user@domain:IP" (or "user:IP"): the domain never holds a colon, IPv6 does.
bool split_user_address(sv token, sv& user, sv& address) {
    auto at = token.rfind('@');
    auto colon = token.find(':', at == sv::npos ? 0 : at);
    if (colon == sv::npos) return false;
    user = token.substr(0, colon);
    address = token.substr(colon + 1);
    return true;
}

// vchkpw's lines, after "vchkpw-<name>: " (see the header).
Line vchkpw_line(std::int64_t time, sv logname, sv text, std::string& scratch_service) {
    Outcome outcome;
    if (starts_with(text, "password fail ") || starts_with(text, "vpopmail user not found ") ||
        starts_with(text, "system password fail ") || starts_with(text, "system user not found ")) {
        outcome = Outcome::bad_password;
    } else if (starts_with(text, "system password login success ")) {
        outcome = Outcome::success;
    } else if (!text.empty() && text[0] == '(') {
        auto close = text.find(") ");
        if (close == sv::npos || !starts_with(after(text, close + 2), "login success ")) return Line{};
        outcome = Outcome::success;
    } else {
        // "<service> access denied u@d:IP" (exit 1: not allowed this service)
        auto word = first_word(text);
        if (!starts_with(after(text, word.size() + 1), "access denied ")) return Line{};
        outcome = Outcome::bad_password;
    }
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    sv token = text.substr(text.rfind(' ') + 1);
    sv user, address;
    if (!split_user_address(token, user, address)) return skip(SkipReason::malformed, time);

    sv service = "unknown";
    if (starts_with(logname, "vchkpw-")) {
        service = logname.substr(7);
        bool port = !service.empty() && service.size() <= 5;
        for (char c : service) port = port && is_digit(c);
        if (port) {
            scratch_service = service_for_port(service);
            service = scratch_service;
        }
    }
    return auth_line(time, Source::vchkpw, user, address, outcome, service);
}

Line authguard_line(std::int64_t time, sv body, std::string& scratch_user,
                    std::string& scratch_address, std::string& scratch_service) {
    sv verdict = first_word(body);
    if (verdict != "allow" && verdict != "alert" && verdict != "tempfail" && verdict != "reject" &&
        verdict != "lock" && verdict != "refuse-locked")
        return Line{};
    sv user, address, service, outcome_text;
    if (!field(body, "user=", user)) return Line{}; // a message decision (sender=)
    if (!field(body, "address=", address) || !field(body, "outcome=", outcome_text))
        return skip(SkipReason::malformed, time);
    if (!field(body, "service=", service)) service = "unknown";
    Outcome outcome;
    if (outcome_text == "success") outcome = Outcome::success;
    else if (outcome_text == "bad-password") outcome = Outcome::bad_password;
    else if (outcome_text == "temporary-failure") outcome = Outcome::temporary_failure;
    else return skip(SkipReason::malformed, time);
    Line l = auth_line(time, Source::authguard, unescape(user, scratch_user),
                       unescape(address, scratch_address), outcome,
                       unescape(service, scratch_service));
    l.auth.verdict = verdict;
    return l;
}

// "pid N Accept::AUTH::<method> P:.. S:IP:host ... ?~ 'user'" (the part after "qmail-smtpd: ")
Line smtpd_line(std::int64_t time, sv body) {
    if (!starts_with(body, "pid ")) return Line{};
    body.remove_prefix(4);
    sv pid_text = first_word(body);
    std::uint64_t pid = 0;
    if (!parse_number(pid_text, pid)) return skip(SkipReason::malformed, time);
    body = after(body, pid_text.size() + 1);
    Outcome outcome;
    if (starts_with(body, "Accept::AUTH::")) outcome = Outcome::success;
    else if (starts_with(body, "Reject::AUTH::")) outcome = Outcome::bad_password;
    else return Line{};
    sv method = first_word(body.substr(14));
    if (method == "Auth_Meth") return Line{}; // a mechanism refused before any password
    while (!body.empty() && body.back() == ' ') body.remove_suffix(1);
    auto quote = body.rfind("?~ '");
    if (quote == sv::npos) quote = body.rfind("?= '");
    if (quote == sv::npos || body.back() != '\'' || body.size() < quote + 5)
        return skip(SkipReason::malformed, time);
    sv user = body.substr(quote + 4, body.size() - quote - 5);
    auto s = body.find(" S:");
    if (s == sv::npos || s > quote) return skip(SkipReason::malformed, time);
    sv host = first_word(body.substr(s + 3));
    auto colon = host.rfind(':');
    sv address = colon == sv::npos ? host : host.substr(0, colon);
    Line l = auth_line(time, Source::qmail_smtpd, user, address, outcome, "smtp");
    l.auth.session = pid;
    return l;
}

// Dovecot's login process: `service` is "imap" of "imap-login", `text` what follows "imap-login: ".
Line dovecot_line(std::int64_t time, sv service, sv text) {
    if (starts_with(text, "Info: ")) text.remove_prefix(6);
    Outcome outcome;
    std::uint32_t attempts = 1;
    if (starts_with(text, "Login: ")) {
        outcome = Outcome::success;
    } else {
        auto failed = text.find("(auth failed, ");
        if (failed == sv::npos) return Line{};
        sv count = first_word(text.substr(failed + 14));
        if (!parse_number(count, attempts) || attempts == 0) return skip(SkipReason::malformed, time);
        outcome = Outcome::bad_password;
    }
    auto u = text.find("user=<");
    if (u == sv::npos) return Line{}; // no user name given: nothing to attribute
    auto end = text.find('>', u + 6);
    if (end == sv::npos) return skip(SkipReason::malformed, time);
    sv user = text.substr(u + 6, end - u - 6);
    if (user.empty()) return Line{};
    sv address;
    if (!field(text, "rip=", address)) return skip(SkipReason::malformed, time);
    if (!address.empty() && address.back() == ',') address.remove_suffix(1);
    Line l = auth_line(time, Source::dovecot, user, address, outcome, service);
    l.auth.attempts = attempts;
    return l;
}

// qmail-send's lines (after splogger's timestamp, if any).
Line qmail_send_line(std::int64_t time, sv body) {
    Line l;
    l.time = time;
    auto number_then = [&](sv text, char stop, std::uint64_t& out) -> sv {
        auto end = text.find(stop);
        if (end == sv::npos || !parse_number(text.substr(0, end), out)) return {};
        return text.substr(end + 1);
    };
    if (starts_with(body, "info msg ")) {
        // info msg N: bytes B from <S> qp P uid U
        sv rest = number_then(body.substr(9), ':', l.message.msg);
        auto from = rest.find(" from <");
        if (rest.empty() || from == sv::npos) return skip(SkipReason::malformed, time);
        auto close = rest.find("> qp ", from + 7);
        if (close == sv::npos) close = rest.rfind('>');
        if (close == sv::npos || close < from + 7) return skip(SkipReason::malformed, time);
        l.message.sender = rest.substr(from + 7, close - from - 7);
        l.kind = Kind::message;
        return l;
    }
    if (starts_with(body, "starting delivery ")) {
        // starting delivery D: msg N to local|remote R
        sv rest = number_then(body.substr(18), ':', l.message.delivery);
        if (!starts_with(rest, " msg ")) return skip(SkipReason::malformed, time);
        rest = number_then(rest.substr(5), ' ', l.message.msg);
        if (starts_with(rest, "to remote ")) l.message.remote = true;
        else if (!starts_with(rest, "to local ")) return skip(SkipReason::malformed, time);
        l.message.recipient = rest.substr(l.message.remote ? 10 : 9);
        l.kind = Kind::delivery_start;
        return l;
    }
    if (starts_with(body, "delivery ")) {
        // delivery D: success|failure|deferral: ...
        sv rest = number_then(body.substr(9), ':', l.message.delivery);
        if (starts_with(rest, " deferral")) l.message.deferred = true;
        else if (!starts_with(rest, " success") && !starts_with(rest, " failure")) return Line{};
        l.kind = Kind::delivery_done;
        return l;
    }
    if (starts_with(body, "end msg ")) {
        if (!parse_number(body.substr(8), l.message.msg)) return skip(SkipReason::malformed, time);
        l.kind = Kind::message_end;
        return l;
    }
    return ignored(time);
}

bool qmail_send_text(sv body) {
    return starts_with(body, "info msg ") || starts_with(body, "starting delivery ") ||
           starts_with(body, "delivery ") || starts_with(body, "end msg ");
}

} // namespace

bool valid_utf8(std::string_view s) {
    auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xbf) {
        return k < s.size() && at(k) >= lo && at(k) <= hi;
    };
    for (std::size_t i = 0; i < s.size();) {
        unsigned char c = at(i);
        std::size_t n = 0;
        if (c < 0x80) n = 1;
        else if (c >= 0xc2 && c <= 0xdf) n = cont(i + 1) ? 2 : 0;
        else if (c == 0xe0) n = cont(i + 1, 0xa0) && cont(i + 2) ? 3 : 0;
        else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) n = cont(i + 1) && cont(i + 2) ? 3 : 0;
        else if (c == 0xed) n = cont(i + 1, 0x80, 0x9f) && cont(i + 2) ? 3 : 0;
        else if (c == 0xf0) n = cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0;
        else if (c >= 0xf1 && c <= 0xf3) n = cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
        else if (c == 0xf4) n = cont(i + 1, 0x80, 0x8f) && cont(i + 2) && cont(i + 3) ? 4 : 0;
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
bool Parser::bsd_time(sv& text, std::int64_t& time) {
    if (text.size() < 16 || text[3] != ' ' || text[6] != ' ' || text[9] != ':' || text[12] != ':' ||
        text[15] != ' ')
        return false;
    if (last_stamp_valid_ && std::memcmp(text.data(), last_stamp_, 15) == 0) {
        time = last_stamp_time_;
        text.remove_prefix(16);
        return true;
    }
    int month = month_number(text.data());
    int day = text[4] == ' ' ? (is_digit(text[5]) ? digit(text[5]) : -1) : two_digits(text, 4);
    int hour = two_digits(text, 7), minute = two_digits(text, 10), second = two_digits(text, 13);
    if (month == 0 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
        second < 0 || second > 60)
        return false;
    time = local_time(year_for(month, day), month, day, hour, minute, second);
    std::memcpy(last_stamp_, text.data(), 15);
    last_stamp_time_ = time;
    last_stamp_valid_ = true;
    text.remove_prefix(16);
    return true;
}

// "2013-07-22T18:52:46[.frac][Z|+09:00|+0900] " or "2013-07-22 18:52:46[.frac] "
bool Parser::iso_time(sv& text, std::int64_t& time) {
    if (text.size() < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != ' ') ||
        text[13] != ':' || text[16] != ':')
        return false;
    int y1 = two_digits(text, 0), y2 = two_digits(text, 2);
    int month = two_digits(text, 5), day = two_digits(text, 8);
    int hour = two_digits(text, 11), minute = two_digits(text, 14), second = two_digits(text, 17);
    if (y1 < 0 || y2 < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
        minute < 0 || minute > 59 || second < 0 || second > 60)
        return false;
    int year = y1 * 100 + y2;
    std::size_t i = 19;
    if (i < text.size() && (text[i] == '.' || text[i] == ',')) {
        ++i;
        while (i < text.size() && is_digit(text[i])) ++i;
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
        if (oh < 0 || om < 0) return false;
        offset = (oh * 3600 + om * 60) * (text[i] == '-' ? -1 : 1);
        zoned = true;
        i = m_at + 2;
    }
    if (i >= text.size() || text[i] != ' ') return false;
    if (zoned)
        time = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
    else
        time = local_time(year, month, day, hour, minute, second);
    text.remove_prefix(i + 1);
    return true;
}

bool Parser::parse_time(sv& text, std::int64_t& time) {
    if (text.empty()) return false;
    char c = text[0];
    if (c == '@') { // multilog: @ + 24 hex digits (TAI64N) + space
        if (text.size() < 26 || text[25] != ' ') return false;
        std::uint64_t label = 0;
        for (std::size_t i = 1; i <= 24; ++i) {
            char h = text[i];
            int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
            if (v < 0) return false;
            if (i <= 16) label = label * 16 + static_cast<std::uint64_t>(v);
        }
        if (label < static_cast<std::uint64_t>(tai64_unix_offset)) return false;
        time = static_cast<std::int64_t>(label - static_cast<std::uint64_t>(tai64_unix_offset));
        text.remove_prefix(26);
        return true;
    }
    if (is_digit(c)) return iso_time(text, time);
    if (c >= 'A' && c <= 'S') return bsd_time(text, time);
    return false;
}

Line Parser::parse(std::string_view line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
    if (line.empty()) return Line{};
    std::int64_t time = 0;
    sv text = line;
    if (!parse_time(text, time)) return skip(SkipReason::unknown_format, 0);

    // "[host ]tag[pid]: body" - a tag is a word ending in ':'; syslog has
    // a host before it, multilog and Dovecot's own file do not.
    sv tag, body = text;
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
        if (!tag.empty() && tag.back() == ']') tag = tag.substr(0, tag.rfind('['));
    }

    Line l;
    if (starts_with(body, "vchkpw") && (tag == "vpopmail" || tag.empty() || !starts_with(tag, "vchkpw"))) {
        sv logname = first_word(body);
        if (logname.empty() || logname.back() != ':') return ignored(time);
        logname.remove_suffix(1);
        l = vchkpw_line(time, logname, after(body, logname.size() + 2), scratch_service_);
    } else if (starts_with(tag, "vchkpw")) {
        l = vchkpw_line(time, tag, body, scratch_service_);
    } else if (tag == "authguard") {
        l = authguard_line(time, body, scratch_user_, scratch_address_, scratch_service_);
    } else if (tag == "qmail-smtpd") {
        l = smtpd_line(time, body);
    } else if (tag.size() > 6 && tag.substr(tag.size() - 6) == "-login") {
        l = dovecot_line(time, tag.substr(0, tag.size() - 6), body);
    } else if (tag == "dovecot") {
        sv process = first_word(body);
        if (process.size() > 7 && process.substr(process.size() - 7) == "-login:")
            l = dovecot_line(time, process.substr(0, process.size() - 7), after(body, process.size() + 1));
        else
            l = ignored(time);
    } else {
        // qmail-send (splogger's "qmail:" tag, or bare under multilog), or
        // qmail-smtpd's stderr through splogger.
        sv candidate = tag.empty() || qmail_send_text(text) ? text : skip_epoch(body);
        if (qmail_send_text(candidate)) l = qmail_send_line(time, candidate);
        else if (starts_with(candidate, "qmail-smtpd: ")) l = smtpd_line(time, candidate.substr(13));
        else l = ignored(time);
    }
    l.time = time;
    if (l.kind == Kind::auth) {
        if (l.auth.user.empty()) return skip(SkipReason::bad_user, time);
        if (!valid_utf8(l.auth.user)) return skip(SkipReason::invalid_utf8, time);
    }
    return l;
}

bool parse_time_argument(std::string_view text, std::int64_t& out) {
    if (!text.empty() && text[0] == '@') text.remove_prefix(1);
    if (parse_number(text, out)) return out >= 0;
    std::string padded(text);
    if (padded.size() == 10) padded += " 00:00:00";
    padded += ' ';
    Parser parser;
    sv view = padded;
    std::int64_t time = 0;
    if (!parser.parse_time(view, time) || !view.empty()) return false;
    out = time;
    return true;
}

} // namespace authguard::logscan
