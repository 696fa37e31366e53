// dkim_engine_test.cpp - lib/dkim's signing and verifying (libopendkim) on
// whole messages fed as authguard-dkim feeds them: fields from
// parse_header, the body through CrlfFeed in uneven chunks. Keys come from
// generate_key; the verifier reads them from a fixed table, so that these
// tests need no DNS (tests/integration/dkim.sh covers unbound and dkimpy).
#include "authguard/dkim/engine.hpp"
#include "authguard/dkim/keys.hpp"
#include "authguard/dkim/message.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace dkim = authguard::dkim;

namespace {

dkim::SigningKey make_key(dkim::KeyType type, const std::string& selector, std::string& txt) {
    dkim::NewKey made = dkim::generate_key(type);
    txt = made.txt_record;
    dkim::SigningKey key;
    key.domain = "example.org";
    key.selector = selector;
    key.type = type;
    key.pem = made.private_pem;
    return key;
}

// Feeds `message` to a signer or verifier as the stage does: header
// fields, then the body in chunks of `chunk` bytes through CrlfFeed.
template <class Engine> void feed(Engine& engine, const std::string& message, std::size_t chunk) {
    dkim::HeaderBlock h = dkim::parse_header(message, true);
    REQUIRE(h.complete);
    for (const auto& f : h.fields)
        engine.header(dkim::field_for_library(f));
    engine.end_header();
    dkim::CrlfFeed crlf;
    std::string out;
    for (std::size_t at = h.body_offset; at < message.size(); at += chunk) {
        out.clear();
        crlf.convert(std::string_view(message).substr(at, chunk), out);
        engine.body(out);
    }
    out.clear();
    crlf.finish(out);
    engine.body(out);
}

std::string signed_copy(const dkim::Library& lib, const std::vector<dkim::SigningKey>& keys,
                        const std::string& message, dkim::LineEnd eol = dkim::LineEnd::lf) {
    std::string added;
    for (const auto& key : keys) {
        dkim::Signer s(lib, key, {});
        feed(s, message, 7);
        added += s.finish(eol);
    }
    return added + message;
}

dkim::Verification verify(const dkim::Library& lib, const std::string& message) {
    dkim::Verifier v(lib);
    feed(v, message, 4096);
    return v.finish();
}

const std::string message = "From: Alice <alice@example.org>\n"
                            "To: bob@example.net\n"
                            "Subject: a test\n"
                            "Date: Thu, 03 Dec 2026 10:00:00 +0000\n"
                            "Message-ID: <1@example.org>\n"
                            "\n"
                            "Hello Bob,\n"
                            "  some  spaced   text \n"
                            "\n"
                            "\n";

} // namespace

TEST_CASE("dkim: rsa and ed25519 signatures verify, one per key, and the message is unchanged") {
    std::string rsa_txt, ed_txt;
    auto rsa = make_key(dkim::KeyType::rsa, "rsa1", rsa_txt);
    auto ed = make_key(dkim::KeyType::ed25519, "ed1", ed_txt);
    dkim::Library signer_lib;
    std::string signed_message = signed_copy(signer_lib, {rsa, ed}, message);
    CHECK(signed_message.size() > message.size());
    CHECK(signed_message.substr(signed_message.size() - message.size()) == message);
    CHECK(signed_message.rfind("DKIM-Signature: ", 0) == 0);
    CHECK(signed_message.find('\r') == std::string::npos); // LF kept

    dkim::KeyLookup keys;
    keys.fixed = {{"rsa1._domainkey.example.org", rsa_txt}, {"ed1._domainkey.example.org", ed_txt}};
    dkim::Library verify_lib(keys);
    auto v = verify(verify_lib, signed_message);
    REQUIRE(v.signatures.size() == 2);
    for (const auto& s : v.signatures) {
        CHECK(s.result == "pass");
        CHECK(s.domain == "example.org");
    }
    CHECK(v.signatures[0].algorithm != v.signatures[1].algorithm);
    std::string ar = dkim::authentication_results("mx.example.net", v, dkim::LineEnd::lf);
    CHECK(ar.rfind("Authentication-Results: mx.example.net;\n\tdkim=pass header.d=example.org",
                   0) == 0);
    CHECK(ar.back() == '\n');
}

TEST_CASE(
    "dkim: a changed body fails, a changed signed header fails, an unknown key is permerror") {
    std::string txt;
    auto rsa = make_key(dkim::KeyType::rsa, "sel", txt);
    dkim::Library lib;
    std::string good = signed_copy(lib, {rsa}, message);
    dkim::KeyLookup keys;
    keys.fixed = {{"sel._domainkey.example.org", txt}};
    dkim::Library verify_lib(keys);

    std::string body_changed = good;
    body_changed.replace(body_changed.find("Hello Bob"), 9, "Hello Eve");
    auto v = verify(verify_lib, body_changed);
    REQUIRE(v.signatures.size() == 1);
    CHECK(v.signatures[0].result == "fail");

    std::string subject_changed = good;
    subject_changed.replace(subject_changed.find("a test"), 6, "a TEST");
    v = verify(verify_lib, subject_changed);
    REQUIRE(v.signatures.size() == 1);
    CHECK(v.signatures[0].result == "fail");

    // A From added after signing breaks the signature (From is oversigned).
    std::string second_from = good;
    second_from.insert(second_from.find("To: bob"), "From: mallory@example.com\n");
    v = verify(verify_lib, second_from);
    REQUIRE(v.signatures.size() == 1);
    CHECK(v.signatures[0].result != "pass");

    dkim::Library no_keys(dkim::KeyLookup{{{"other._domainkey.example.org", txt}}, {}});
    v = verify(no_keys, good);
    REQUIRE(v.signatures.size() == 1);
    CHECK(v.signatures[0].result == "permerror");
}

TEST_CASE("dkim: relaxed body canonicalisation ignores trailing blanks and lines; CRLF and LF "
          "copies of one message verify alike") {
    std::string txt;
    auto rsa = make_key(dkim::KeyType::rsa, "sel", txt);
    dkim::Library lib;
    std::string good = signed_copy(lib, {rsa}, message);
    dkim::KeyLookup keys;
    keys.fixed = {{"sel._domainkey.example.org", txt}};
    dkim::Library verify_lib(keys);
    std::string crlf;
    for (char c : good) {
        if (c == '\n') crlf += '\r';
        crlf += c;
    }
    auto v = verify(verify_lib, crlf);
    REQUIRE(v.signatures.size() == 1);
    CHECK(v.signatures[0].result == "pass");
    v = verify(verify_lib, good + "\n\n");
    REQUIRE(v.signatures.size() == 1);
    CHECK(v.signatures[0].result == "pass");
}

TEST_CASE("dkim: no signature is dkim=none; an empty body signs and verifies") {
    dkim::Library lib;
    auto v = verify(lib, message);
    CHECK(v.signatures.empty());
    CHECK(dkim::authentication_results("mx", v, dkim::LineEnd::lf) ==
          "Authentication-Results: mx;\n\tdkim=none\n");

    std::string txt;
    auto ed = make_key(dkim::KeyType::ed25519, "e", txt);
    std::string header_only = "From: a@example.org\nSubject: x\n\n";
    std::string s = signed_copy(lib, {ed}, header_only);
    dkim::Library verify_lib(dkim::KeyLookup{{{"e._domainkey.example.org", txt}}, {}});
    auto v2 = verify(verify_lib, s);
    REQUIRE(v2.signatures.size() == 1);
    CHECK(v2.signatures[0].result == "pass");
}

TEST_CASE("dkim: simple/simple signatures (unfolded) verify, ed25519 included") {
    std::string txt;
    auto ed = make_key(dkim::KeyType::ed25519, "s", txt);
    dkim::Library lib;
    dkim::SignOptions simple;
    simple.header_canon = dkim::Canon::simple;
    simple.body_canon = dkim::Canon::simple;
    dkim::Signer signer(lib, ed, simple);
    feed(signer, message, 3);
    std::string s = signer.finish(dkim::LineEnd::lf) + message;
    dkim::Library verify_lib(dkim::KeyLookup{{{"s._domainkey.example.org", txt}}, {}});
    auto v = verify(verify_lib, s);
    REQUIRE(v.signatures.size() == 1);
    CHECK(v.signatures[0].result == "pass");
}
