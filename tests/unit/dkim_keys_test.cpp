// dkim_keys_test.cpp - lib/dkim/keys.cpp: making rsa and ed25519 keys and
// their TXT records, parsing published key records (RFC 6376 §3.6.1,
// RFC 8463), matching a record against a key, reading key files (modes,
// PKCS#1 and PKCS#8, junk, size, weak RSA) and where find_signing_keys
// looks, in qmail-dkim's order (control/dkimkeys, $DKIMSIGN/$DKIMKEY with
// "%", control/domainkeys/DOMAIN/).
#include "authguard/dkim/keys.hpp"

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>

using namespace authguard::dkim;
using authguard::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// Key generation costs (RSA 2048: up to a second): each kind made once.
const NewKey& rsa_key() {
    static const NewKey key = generate_key(KeyType::rsa, 2048);
    return key;
}
const NewKey& rsa_key2() {
    static const NewKey key = generate_key(KeyType::rsa, 1024);
    return key;
}
const NewKey& ed_key() {
    static const NewKey key = generate_key(KeyType::ed25519);
    return key;
}
const NewKey& ed_key2() {
    static const NewKey key = generate_key(KeyType::ed25519);
    return key;
}

void write_file(const fs::path& path, const std::string& text, mode_t mode = 0640) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    REQUIRE(::chmod(path.c_str(), mode) == 0);
}

SigningKey key_of(const NewKey& key, KeyType type, std::string selector = "default") {
    SigningKey k;
    k.domain = "example.test";
    k.selector = std::move(selector);
    k.type = type;
    k.pem = key.private_pem;
    return k;
}

KeyRecord parse_ok(std::string_view text) {
    std::string error;
    auto record = parse_key_record(text, error);
    INFO(error);
    REQUIRE(record);
    return *record;
}

std::string parse_error(std::string_view text) {
    std::string error;
    auto record = parse_key_record(text, error);
    CHECK_FALSE(record);
    CHECK_FALSE(error.empty());
    return error;
}

// An RSA key in a given PEM form made with OpenSSL directly (not ours).
std::string openssl_rsa_pem(int bits, bool traditional) {
    struct Free {
        void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
        void operator()(BIO* p) const { BIO_free_all(p); }
    };
    std::unique_ptr<EVP_PKEY, Free> key(
        EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits)));
    REQUIRE(key);
    std::unique_ptr<BIO, Free> bio(BIO_new(BIO_s_mem()));
    int ok = traditional ? PEM_write_bio_PrivateKey_traditional(bio.get(), key.get(), nullptr,
                                                                nullptr, 0, nullptr, nullptr)
                         : PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0,
                                                    nullptr, nullptr);
    REQUIRE(ok == 1);
    char* data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

} // namespace

TEST_CASE("dkim keys: rsa 2048 and ed25519 keys are PKCS#8 PEM with their record") {
    const NewKey& rsa = rsa_key();
    CHECK(rsa.private_pem.rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);
    CHECK(rsa.txt_record.rfind("v=DKIM1; k=rsa; p=MIIB", 0) == 0); // SPKI DER of 2048 bits
    CHECK(txt_record_for(rsa.private_pem, KeyType::rsa) == rsa.txt_record);

    const NewKey& ed = ed_key();
    CHECK(ed.private_pem.rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);
    CHECK(ed.txt_record.rfind("v=DKIM1; k=ed25519; p=", 0) == 0);
    // RFC 8463 §4.2: the raw 32-byte key, 44 base64 characters.
    CHECK(ed.txt_record.size() == std::string("v=DKIM1; k=ed25519; p=").size() + 44);
    CHECK(ed.txt_record != ed_key2().txt_record);

    CHECK_THROWS_AS(txt_record_for(rsa.private_pem, KeyType::ed25519), KeyError);
    CHECK_THROWS_AS(txt_record_for("not a key", KeyType::rsa), KeyError);
    CHECK_THROWS_AS(generate_key(KeyType::rsa, 512), KeyError);
    CHECK_THROWS_AS(generate_key(KeyType::rsa, 16384), KeyError);
    CHECK(to_string(KeyType::rsa) == "rsa");
    CHECK(to_string(KeyType::ed25519) == "ed25519");
}

TEST_CASE("dkim keys: key records parse as RFC 6376 3.6.1 writes them") {
    KeyRecord r = parse_ok(rsa_key().txt_record);
    CHECK(r.version() == "DKIM1");
    CHECK(r.key_type() == "rsa");
    CHECK(r.public_key() == rsa_key().txt_record.substr(rsa_key().txt_record.find("p=") + 2));

    // v= is optional, k= defaults to rsa, a trailing ";" and ";;" are allowed.
    r = parse_ok("p=AAAA;");
    CHECK(r.version().empty());
    CHECK(r.key_type() == "rsa");
    r = parse_ok("v=DKIM1;; k=ed25519 ;p=AAAA ; ");
    CHECK(r.key_type() == "ed25519");
    CHECK(r.public_key() == "AAAA");

    // Blanks and folding inside p= (TXT strings joined by a zone tool).
    r = parse_ok("v=DKIM1; k=rsa; p=MIIB IjAN\r\n\tBgkq hkiG");
    CHECK(r.public_key() == "MIIBIjANBgkqhkiG");

    // Unknown tags are kept, as written; n= notes keep their inner blanks.
    r = parse_ok("v=DKIM1; x_future=1; n=a note here; t=y:s; p=AAAA");
    CHECK(r.tags.at("n") == "a note here");
    CHECK(r.tags.at("t") == "y:s");
    CHECK(r.tags.at("x_future") == "1");
}

TEST_CASE("dkim keys: key records that are not one are refused with a reason") {
    // "-" is not a tag-name character (ALNUMPUNC).
    CHECK(parse_error("v=DKIM1; x-future=1; p=AAAA").find("tag name") != std::string::npos);
    CHECK(parse_error("k=rsa; v=DKIM1; p=AAAA").find("first") != std::string::npos);
    CHECK(parse_error("v=DKIM2; p=AAAA").find("DKIM1") != std::string::npos);
    CHECK(parse_error("v=DKIM1; p=AAAA; p=BBBB").find("twice") != std::string::npos);
    CHECK(parse_error("v=DKIM1; k=rsa; k=rsa; p=AAAA").find("twice") != std::string::npos);
    CHECK(parse_error("v=DKIM1; k=rsa").find("no p=") != std::string::npos);
    CHECK(parse_error("v=spf1 -all").find("=") != std::string::npos);
    CHECK(parse_error("v=DKIM1; k; p=AAAA").find("without") != std::string::npos);
    CHECK(parse_error("").find("no p=") != std::string::npos);
    parse_error(std::string("v=DKIM1; n=\x01; p=AAAA"));
    parse_error("v=DKIM1; =x; p=AAAA");

    // A revoked key (empty p=) is a record, not an error.
    KeyRecord revoked = parse_ok("v=DKIM1; k=rsa; p=");
    CHECK(revoked.public_key().empty());
}

TEST_CASE("dkim keys: a record matches its own key only") {
    SigningKey rsa = key_of(rsa_key(), KeyType::rsa);
    SigningKey ed = key_of(ed_key(), KeyType::ed25519);
    std::string why;

    CHECK(record_matches_key(parse_ok(rsa_key().txt_record), rsa, why));
    CHECK(record_matches_key(parse_ok(ed_key().txt_record), ed, why));
    // Split into TXT strings and folded: the same key.
    std::string folded = rsa_key().txt_record;
    folded.insert(folded.size() - 40, " \t ");
    CHECK(record_matches_key(parse_ok(folded), rsa, why));

    // Another key of the same type.
    CHECK_FALSE(record_matches_key(parse_ok(rsa_key2().txt_record), rsa, why));
    CHECK(why.find("another RSA key") != std::string::npos);
    CHECK_FALSE(record_matches_key(parse_ok(ed_key2().txt_record), ed, why));
    CHECK(why.find("another ed25519 key") != std::string::npos);

    // Another type.
    CHECK_FALSE(record_matches_key(parse_ok(ed_key().txt_record), rsa, why));
    CHECK(why.find("k=ed25519") != std::string::npos);
    CHECK_FALSE(record_matches_key(parse_ok(rsa_key().txt_record), ed, why));
    CHECK(why.find("k=rsa") != std::string::npos);

    // Revoked.
    CHECK_FALSE(record_matches_key(parse_ok("v=DKIM1; k=rsa; p="), rsa, why));
    CHECK(why.find("revoked") != std::string::npos);

    // Not base64, not a key, h= and s= that exclude DKIM-with-sha256 mail.
    CHECK_FALSE(record_matches_key(parse_ok("v=DKIM1; p=!!!!"), rsa, why));
    CHECK(why.find("base64") != std::string::npos);
    CHECK_FALSE(record_matches_key(parse_ok("v=DKIM1; p=AAAA"), rsa, why));
    CHECK(why.find("not an RSA public key") != std::string::npos);
    CHECK_FALSE(record_matches_key(parse_ok("v=DKIM1; k=ed25519; p=AAAA"), ed, why));
    CHECK(why.find("32-byte") != std::string::npos);
    std::string tail = rsa_key().txt_record.substr(std::string("v=DKIM1; ").size());
    CHECK_FALSE(record_matches_key(parse_ok("v=DKIM1; h=sha1; " + tail), rsa, why));
    CHECK(why.find("sha256") != std::string::npos);
    CHECK(record_matches_key(parse_ok("v=DKIM1; h=sha1:SHA256; " + tail), rsa, why));
    CHECK_FALSE(record_matches_key(parse_ok("v=DKIM1; s=tlsrpt; " + tail), rsa, why));
    CHECK(why.find("email") != std::string::npos);
    CHECK(record_matches_key(parse_ok("v=DKIM1; s=*; " + tail), rsa, why));
}

TEST_CASE("dkim keys: read_signing_key refuses unsafe, foreign and weak keys") {
    TempDir dir;
    const fs::path path = dir.path() / "sel1";

    write_file(path, ed_key().private_pem, 0640);
    SigningKey k = read_signing_key(path, "Example.TEST");
    CHECK(k.domain == "example.test");
    CHECK(k.selector == "sel1");
    CHECK(k.type == KeyType::ed25519);
    CHECK(k.path == path);
    CHECK(k.pem == ed_key().private_pem);

    // Readable by others: refused, and the message says the mode to set.
    write_file(path, ed_key().private_pem, 0644);
    try {
        read_signing_key(path, "example.test");
        FAIL("a key readable by others was accepted");
    } catch (const KeyError& e) {
        std::string text = e.what();
        CHECK(text.find("0644") != std::string::npos);
        CHECK(text.find("chmod 0640") != std::string::npos);
        CHECK(text.find(path.string()) != std::string::npos);
    }

    // PKCS#1 ("BEGIN RSA PRIVATE KEY", openssl genrsa, dknewkey): accepted,
    // handed on as PKCS#8.
    write_file(path, openssl_rsa_pem(2048, true), 0600);
    k = read_signing_key(path, "example.test");
    CHECK(k.type == KeyType::rsa);
    CHECK(k.pem.rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);

    // Not a key, missing, too large, RSA under 1024 bits.
    write_file(path, "hello\n", 0600);
    CHECK_THROWS_WITH_AS(read_signing_key(path, "example.test"),
                         doctest::Contains("not a PEM private key"), KeyError);
    CHECK_THROWS_WITH_AS(read_signing_key(dir.path() / "none", "example.test"),
                         doctest::Contains("no such key file"), KeyError);
    write_file(path, std::string(70000, 'A'), 0600);
    CHECK_THROWS_WITH_AS(read_signing_key(path, "example.test"), doctest::Contains("too large"),
                         KeyError);
    write_file(path, openssl_rsa_pem(512, false), 0600);
    CHECK_THROWS_WITH_AS(read_signing_key(path, "example.test"), doctest::Contains("512 bits"),
                         KeyError);
    // A directory, not a regular file.
    fs::create_directories(dir.path() / "adir");
    CHECK_THROWS_AS(read_signing_key(dir.path() / "adir", "example.test"), KeyError);
}

TEST_CASE("dkim keys: find_signing_keys looks where qmail-dkim looks, in its order") {
    TempDir dir;
    const fs::path control = dir.path() / "control";
    fs::create_directories(control);
    KeySources sources;
    sources.control_dir = control;
    std::vector<std::string> problems;

    // Nothing anywhere: no key, no problem.
    CHECK(find_signing_keys(sources, "example.test", problems).empty());
    CHECK(problems.empty());

    // 3. control/domainkeys/DOMAIN/: two selectors sign; .pub and dot files are no keys.
    const fs::path dk = control / "domainkeys" / "example.test";
    write_file(dk / "rsa2026", rsa_key().private_pem);
    write_file(dk / "ed2026", ed_key().private_pem);
    write_file(dk / "rsa2026.pub", rsa_key().txt_record + "\n", 0644);
    write_file(dk / "default.txt", "x\n", 0644);
    write_file(dk / ".rsa2026.swp", "x\n", 0644);
    auto keys = find_signing_keys(sources, "EXAMPLE.test", problems);
    REQUIRE(keys.size() == 2);
    CHECK(keys[0].selector == "ed2026"); // sorted: the same order every time
    CHECK(keys[0].type == KeyType::ed25519);
    CHECK(keys[1].selector == "rsa2026");
    CHECK(keys[1].domain == "example.test");
    CHECK(problems.empty());

    // A broken key is reported and skipped; the others still sign.
    write_file(dk / "broken", "garbage\n");
    write_file(dk / "open", ed_key2().private_pem, 0644);
    keys = find_signing_keys(sources, "example.test", problems);
    CHECK(keys.size() == 2);
    REQUIRE(problems.size() == 2);
    CHECK(problems[0].find("broken") != std::string::npos);
    CHECK(problems[1].find("readable by others") != std::string::npos);
    problems.clear();

    // 2. $DKIMSIGN with "%" (wins over the directory) ...
    const fs::path other = dir.path() / "keys";
    write_file(other / "example.test" / "sel", ed_key2().private_pem);
    sources.dkimsign = (other / "%" / "sel").string();
    keys = find_signing_keys(sources, "example.test", problems);
    REQUIRE(keys.size() == 1);
    CHECK(keys[0].selector == "sel");
    CHECK(keys[0].pem == ed_key2().private_pem);
    CHECK(problems.empty());
    // ... and, for a domain without that file, the path with "%" removed.
    write_file(other / "sel", rsa_key().private_pem);
    keys = find_signing_keys(sources, "other.test", problems);
    REQUIRE(keys.size() == 1);
    CHECK(keys[0].type == KeyType::rsa);
    CHECK(keys[0].domain == "other.test");
    CHECK(keys[0].path == other / "sel");
    // Neither exists: the domain has no key, and that is no problem.
    fs::remove(other / "sel");
    CHECK(find_signing_keys(sources, "other.test", problems).empty());
    CHECK(problems.empty());
    // $DKIMKEY is used only without $DKIMSIGN.
    sources.dkimkey = (other / "none").string();
    CHECK(find_signing_keys(sources, "example.test", problems).size() == 1);
    sources.dkimsign.reset();
    CHECK(find_signing_keys(sources, "example.test", problems).size() == 2); // the directory
    REQUIRE(problems.size() >= 1);
    CHECK(problems[0].find("no such key file") != std::string::npos); // no "%": a mistake
    problems.clear();
    sources.dkimkey = (other / "%" / "sel").string();
    keys = find_signing_keys(sources, "example.test", problems);
    REQUIRE(keys.size() == 1);
    CHECK(keys[0].selector == "sel");
    sources.dkimsign = (other / "%" / "sel").string();

    // 1. control/dkimkeys wins over $DKIMSIGN; relative paths from the qmail home.
    write_file(dir.path() / "k" / "example.test.key", rsa_key2().private_pem);
    write_file(control / "dkimkeys",
               "# comment\n\nother.test:/nonexistent\nExample.Test : k/%.key\r\n", 0644);
    keys = find_signing_keys(sources, "example.test", problems);
    REQUIRE(keys.size() == 1);
    CHECK(keys[0].selector == "example.test.key");
    CHECK(keys[0].pem == rsa_key2().private_pem);
    CHECK(problems.empty());
    // A line naming a key that cannot be read: no key, a problem, no fallback.
    keys = find_signing_keys(sources, "other.test", problems);
    CHECK(keys.empty());
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].find("/nonexistent") != std::string::npos);
    problems.clear();
    // A domain dkimkeys does not name goes on to $DKIMSIGN.
    write_file(other / "third.test" / "sel", ed_key().private_pem);
    keys = find_signing_keys(sources, "third.test", problems);
    REQUIRE(keys.size() == 1);
    CHECK(keys[0].type == KeyType::ed25519);
    CHECK(problems.empty());

    // A From: domain that would leave control/domainkeys is no domain.
    sources.dkimsign.reset();
    sources.dkimkey.reset();
    for (const char* bad : {"..", "../control", "a/b", "", "a..b", ".example.test"}) {
        problems.clear();
        CHECK(find_signing_keys(sources, bad, problems).empty());
        CHECK(problems.size() == 1);
    }
}

TEST_CASE("dkim keys: domain and selector names") {
    CHECK(valid_domain_name("example.test"));
    CHECK(valid_domain_name("a-b_c.example"));
    CHECK_FALSE(valid_domain_name("example..test"));
    CHECK_FALSE(valid_domain_name("example.test."));
    CHECK_FALSE(valid_domain_name("exa mple.test"));
    CHECK_FALSE(valid_domain_name(std::string(64, 'a') + ".test"));
    CHECK(valid_selector("default"));
    CHECK(valid_selector("rsa-2026_a"));
    CHECK_FALSE(valid_selector("default.pub"));
    CHECK_FALSE(valid_selector(""));
    CHECK_FALSE(valid_selector(std::string(64, 'a')));
}
