// dkim_key_record.cpp - libFuzzer harness: a DKIM key record as DNS
// returns it (the TXT strings joined: strangers' input, for the verifier
// and for `authguardctl dkim check`), read by parse_key_record() in
// lib/dkim/keys.cpp, then matched by record_matches_key() against a fixed
// rsa and a fixed ed25519 key (base64 decoding, DER parsing of p= by
// OpenSSL). Checked: a refusal always says why; an accepted record has a
// p=, p= holds no blank, a v= is DKIM1, every tag name is a tag-name;
// writing the tags back as "name=value; ..." parses to the same tags; a
// mismatch always says why, and the keys' own records match.
#include "authguard/dkim/keys.hpp"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace dkim = authguard::dkim;

namespace {

struct Fixed {
    dkim::SigningKey rsa, ed;
    std::string rsa_txt, ed_txt;
};

// Made once per run (RSA generation is what costs); 1024 bits is enough
// for parsing and comparing.
const Fixed& fixed() {
    static const Fixed f = [] {
        Fixed out;
        auto rsa = dkim::generate_key(dkim::KeyType::rsa, 1024);
        auto ed = dkim::generate_key(dkim::KeyType::ed25519);
        out.rsa = {"example.test", "rsa", dkim::KeyType::rsa, rsa.private_pem, {}};
        out.ed = {"example.test", "ed", dkim::KeyType::ed25519, ed.private_pem, {}};
        out.rsa_txt = rsa.txt_record;
        out.ed_txt = ed.txt_record;
        return out;
    }();
    return f;
}

[[noreturn]] void fail(const char* what, const std::string& text) {
    std::fprintf(stderr, "%s: '%s'\n", what, text.c_str());
    std::abort();
}

void match(const dkim::KeyRecord& record, const dkim::SigningKey& key, const std::string& text) {
    std::string why;
    bool ok = dkim::record_matches_key(record, key, why);
    if (!ok && why.empty()) fail("a mismatch without a reason", text);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 8192) return -1; // a key record: a few hundred bytes, 8192-bit RSA ~1.4 KB
    const Fixed& f = fixed();
    std::string text(reinterpret_cast<const char*>(data), size);

    std::string error;
    auto record = dkim::parse_key_record(text, error);
    if (!record) {
        if (error.empty()) fail("a refusal without a reason", text);
        return 0;
    }
    if (!record->tags.count("p")) fail("accepted without p=", text);
    for (char c : record->public_key())
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') fail("a blank left in p=", text);
    if (record->tags.count("v") && record->version() != "DKIM1") fail("accepted v=", text);
    for (const auto& [name, value] : record->tags) {
        if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0])))
            fail("a bad tag name accepted", text);
        for (char c : name)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
                fail("a bad tag name accepted", text);
    }

    // Written back (v= first, as it must be), the record reads the same.
    std::string again;
    if (record->tags.count("v")) again = "v=" + record->version() + "; ";
    for (const auto& [name, value] : record->tags)
        if (name != "v") again += name + "=" + value + "; ";
    std::string again_error;
    auto reparsed = dkim::parse_key_record(again, again_error);
    if (!reparsed) fail(("written back, refused: " + again_error).c_str(), text);
    if (reparsed->tags != record->tags) fail("written back, other tags", text);

    match(*record, f.rsa, text);
    match(*record, f.ed, text);

    // The keys' own records, once per run: they must match.
    static bool own_checked = false;
    if (!own_checked) {
        own_checked = true;
        std::string e, why;
        auto r = dkim::parse_key_record(f.rsa_txt, e);
        auto d = dkim::parse_key_record(f.ed_txt, e);
        if (!r || !dkim::record_matches_key(*r, f.rsa, why)) fail("own rsa record", f.rsa_txt);
        if (!d || !dkim::record_matches_key(*d, f.ed, why)) fail("own ed25519 record", f.ed_txt);
    }
    return 0;
}
