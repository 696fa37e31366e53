// dkim/engine.hpp - signing and verifying one message with libopendkim
// (Debian's libopendkim 2.11; libdkim cannot verify, see
// shared/qmail-interfaces.md). The message is fed once, in chunks, as it
// lies in authguard-dkim's spool file: the header fields (from
// dkim/message.hpp's parse), then the body with CRLF line ends. The
// result is header fields to add, already folded for the message's own
// line ends; the message itself is never changed.
#pragma once

#include "authguard/dkim/keys.hpp"
#include "authguard/dkim/message.hpp"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace authguard::dkim {

// libopendkim could not do what was asked (out of memory, a key it
// refuses, a library error): the caller hands the message on unsigned,
// or answers 451 with dkim-on-error = tempfail.
struct EngineError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class Canon { relaxed, simple };

struct SignOptions {
    Canon header_canon = Canon::relaxed;
    Canon body_canon = Canon::relaxed;
    // RFC 6376 §5.4.1's recommended fields that are present get signed;
    // From is signed once more than it occurs (oversigned), so that no
    // From can be added after signing.
};

// Where verification finds keys: the system resolver (/etc/resolv.conf),
// or, for tests and fuzzing, a fixed map "selector._domainkey.domain" ->
// TXT text (a missing name is NXDOMAIN).
struct KeyLookup {
    std::vector<std::pair<std::string, std::string>> fixed; // empty: DNS
    std::chrono::seconds timeout{10};                       // per DNS query
};

// One DKIM-Signature result (RFC 8601 §2.7.1's dkim= values).
struct SignatureResult {
    std::string result;    // pass, fail, neutral, policy, temperror, permerror
    std::string domain;    // d=
    std::string selector;  // s=
    std::string algorithm; // a=, e.g. rsa-sha256
    std::string reason;    // why not pass, for the header's comment and the log
    std::string header_b;  // the first 8 characters of b= (RFC 6008)
};

struct Verification {
    std::vector<SignatureResult> signatures; // empty: dkim=none
};

// The library handle: made once per process (it loads OpenSSL's
// algorithms), shared by every Signer and Verifier of the process.
class Library {
  public:
    explicit Library(KeyLookup lookup = {});
    ~Library();
    Library(const Library&) = delete;
    Library& operator=(const Library&) = delete;
    struct Impl;
    Impl& impl() const { return *impl_; }

  private:
    std::unique_ptr<Impl> impl_;
};

// Signs with one key. Feed: every header field (field_for_library form),
// then end_header(), then the body in CRLF form in any chunks, then
// finish(), which returns the DKIM-Signature field folded for `line_end`.
class Signer {
  public:
    Signer(const Library& library, const SigningKey& key, const SignOptions& options);
    ~Signer();
    Signer(const Signer&) = delete;
    Signer& operator=(const Signer&) = delete;
    void header(std::string_view field);
    void end_header();
    void body(std::string_view chunk);
    std::string finish(LineEnd line_end);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Verifies every signature of a message; the same feeding order.
class Verifier {
  public:
    explicit Verifier(const Library& library);
    ~Verifier();
    Verifier(const Verifier&) = delete;
    Verifier& operator=(const Verifier&) = delete;
    void header(std::string_view field);
    void end_header();
    void body(std::string_view chunk);
    Verification finish();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The Authentication-Results field (RFC 8601) for a verification:
// "Authentication-Results: AUTHSERV-ID; dkim=pass header.d=example.com
// header.s=sel header.a=rsa-sha256 header.b=abcdefgh", one resinfo per
// signature, "dkim=none" for none; folded for `line_end`.
std::string authentication_results(std::string_view authserv_id, const Verification& v,
                                   LineEnd line_end);

} // namespace authguard::dkim
