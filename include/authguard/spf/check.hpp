// spf/check.hpp - the SPF check (RFC 7208) that authguard-spf runs for each
// [mail] (or [rcpt]) command: libspf2 does the evaluation, this layer picks
// the DNS source, enforces RFC 7208's limits and a total time budget,
// corrects libspf2 where RFC 7208 is clear (record syntax, multiple
// records, lookup and void-lookup limits, initial processing), applies
// qmail-spf-rc5's local extras (spfrules, spfguess, spfexp) and formats the
// Received-SPF header (RFC 7208 §9.1).
//
// The plugin's use:
//     spf::Options options;                      // from control/spf*
//     options.receiver = "mx.example.org";       // control/me
//     options.local_rules = read("spfrules");   // "" when missing
//     spf::Checker checker(spf::Dns::resolver(), options);
//     spf::Verdict v = checker.check({ip, sender, helo});
//     out("H" + spf::received_spf_header(v));
// check() never lets a hung DNS server hold the SMTP session beyond
// options.timeout: an unfinished check is a temperror.
#pragma once

#include "authguard/spf/dns.hpp"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace authguard::spf {

// An internal failure (no thread for the check, bad local rules):
// the plugin then says nothing and accepts the mail.
struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class Result { none, neutral, pass, fail, softfail, temperror, permerror };

// "pass", "fail", ... as RFC 7208 §8 and the Received-SPF header spell them.
std::string_view to_string(Result result);

// qmail-spf-rc5's default control/spfexp. %{xR} is the patch's macro for the
// receiving host; it is read as RFC 7208's %{r}.
inline constexpr char default_explanation[] =
    "See http://spf.pobox.com/why.html?sender=%{S}&ip=%{I}&receiver=%{xR}";

struct Options {
    // Total wall-clock budget of one check, every DNS query included
    // (spf-timeout). Zero: no budget, and the check runs on the caller's
    // thread. Otherwise it runs on a thread of its own, which a late check
    // leaves behind (it owns copies of what it reads).
    std::chrono::milliseconds timeout{5000};
    int max_dns_mechanisms = 10; // RFC 7208 §4.6.4: DNS-querying terms
    int max_void_lookups = 2;    // RFC 7208 §4.6.4: lookups with no answer
    // Our host name: %{r} and %{xR}, the header's receiver= and comment.
    std::string receiver = "unknown";
    // control/spfrules: SPF terms tried before a record's failing default
    // ("-all", "~all", "?all"); without a record, after spfguess.
    std::string local_rules;
    // control/spfguess: SPF terms tried for a domain that publishes no
    // record; a guess that does not match leaves the result "none".
    std::string guess;
    // control/spfexp: the explanation of a fail when the domain gives
    // none, with macros.
    std::string explanation = default_explanation;
};

struct Request {
    std::string client_ip; // TCPREMOTEIP: IPv4 or IPv6 (IPv4-mapped accepted)
    std::string sender;    // SMTPMAILFROM without <>; "" for the null sender
    std::string helo;      // SMTPHELOHOST
};

struct Verdict {
    Result result = Result::none;
    // fail only: the domain's exp= text, or options.explanation, expanded.
    std::string explanation;
    // What decided: "default" (no term matched), "local rules", "guess",
    // "localhost", or "" when a term of the record matched (libspf2 does
    // not say which one).
    std::string mechanism;
    // Why, for people (the header's comment, the log): the RFC 7208 §9.1
    // sentence, or the problem for temperror/permerror.
    std::string reason;
    std::string problem; // temperror/permerror: what went wrong, else ""

    // The Received-SPF key-value pairs (RFC 7208 §9.1).
    std::string client_ip;     // canonical
    std::string envelope_from; // the sender as given ("" for the null sender)
    std::string helo;
    std::string receiver;
    std::string identity; // "mailfrom", or "helo" for the null sender
    std::string domain;   // the domain checked (the sender's, or the HELO name)
};

// A check under way (Checker::start): its thread looks up DNS while the
// caller does other work (the plugin asks the store whether the session is
// authenticated meanwhile). Dropping it abandons the check.
class RunningCheck {
  public:
    struct State;
    RunningCheck(RunningCheck&&) noexcept;
    RunningCheck& operator=(RunningCheck&&) noexcept;
    ~RunningCheck();
    // The verdict; at the deadline, a temperror ("no answer within the
    // time budget"). Throws Error when the check failed internally.
    Verdict wait();

  private:
    friend class Checker;
    explicit RunningCheck(Verdict verdict);
    RunningCheck(std::shared_ptr<State> state, std::chrono::steady_clock::time_point deadline,
                 Verdict if_late);
    std::shared_ptr<State> state_;
    std::chrono::steady_clock::time_point deadline_;
    Verdict verdict_; // the finished verdict, or the one for a late check
};

// One configured checker. Construction compiles the local rules, guess and
// explanation and throws Error when they are not valid SPF.
class Checker {
  public:
    Checker(Dns dns, Options options);

    // Throws Error on an internal failure only; DNS trouble is a temperror,
    // a broken record a permerror, a malformed client address a permerror
    // (RFC 7208 §4.1 needs an address).
    Verdict check(const Request& request) const;
    // The same check started on a thread of its own (or done at once when
    // options.timeout is 0); wait() on the result.
    RunningCheck start(const Request& request) const;

    const Options& options() const { return options_; }

  private:
    Verdict evaluate(const Request& request) const;
    Dns dns_;
    Options options_;
};

// The whole header field, "Received-SPF: pass (comment) client-ip=...;",
// folded before 78 columns with "\n\t" (no final newline). Values that are
// not dot-atoms are quoted, the comment's parentheses and backslashes
// escaped, control characters dropped.
std::string received_spf_header(const Verdict& verdict);

// The same without "Received-SPF: ", unfolded: for logs.
std::string received_spf_value(const Verdict& verdict);

} // namespace authguard::spf
