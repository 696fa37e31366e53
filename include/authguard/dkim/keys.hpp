// dkim/keys.hpp - DKIM signing keys: where authguard-dkim finds a domain's
// private keys (IndiMail's layout and variables, so that keys made for
// qmail-dkim carry over), making new ones, and the DNS TXT record that
// publishes a key (RFC 6376 §3.6.1, RFC 8463 for ed25519). OpenSSL does
// the cryptography; parsing the TXT record is ours, and fuzzed
// (tests/fuzz/dkim_key_record.cpp).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace authguard::dkim {

// A key that cannot be read, parsed or made. Its text names the file.
struct KeyError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class KeyType { rsa, ed25519 };
std::string_view to_string(KeyType type); // "rsa", "ed25519" (the k= tag)

struct SigningKey {
    std::string domain;   // d=, lower-cased
    std::string selector; // s=: the key file's base name
    KeyType type = KeyType::rsa;
    std::string pem; // the private key, PEM (PKCS#8 for ed25519: libopendkim reads only that)
    std::filesystem::path path;
};

// Where the signing environment says to look (qmail-dkim's variables).
struct KeySources {
    std::filesystem::path control_dir;
    std::optional<std::string> dkimsign; // $DKIMSIGN: a key path, "%" = the domain
    std::optional<std::string> dkimkey;  // $DKIMKEY: the same, used when DKIMSIGN is unset
};

// The keys to sign a message from `domain` with, in this order of
// precedence, the first that names anything winning:
//   1. control/dkimkeys, a line "domain:path" for this domain (path may
//      hold "%");
//   2. $DKIMSIGN, else $DKIMKEY, with "%" replaced by the domain; when
//      that file does not exist, the same path with "%" removed (as
//      qmail-dkim does);
//   3. control/domainkeys/DOMAIN/: every regular file whose name is a
//      valid selector (letters, digits, "-", "_"; no ".", so "default.pub"
//      and "default.txt" beside the key are not keys). Several files
//      (say "rsa2026" and "ed2026") sign the message once each.
// Each key read is parsed (its type found); one that cannot be read or
// parsed is left out and described in `problems` (logged by the caller:
// the message then goes on with the other keys, or unsigned). An empty
// result means the domain has no key. Never throws for a missing file.
std::vector<SigningKey> find_signing_keys(const KeySources& sources, std::string_view domain,
                                          std::vector<std::string>& problems);

// Reads one private key file (PEM: PKCS#1 or PKCS#8 RSA, PKCS#8 ed25519)
// for `domain`, selector = the file's base name. Refuses a file larger
// than 64 KiB, one readable by others than its owner and group (a leaked
// key signs anyone's mail; the message says which mode to set), and
// anything but RSA of 1024-8192 bits or ed25519. Throws KeyError.
SigningKey read_signing_key(const std::filesystem::path& path, std::string_view domain);

// A new key: RSA of `rsa_bits` (2048 default; 1024-8192) or ed25519, as
// PEM PKCS#8, and its DNS record.
struct NewKey {
    std::string private_pem;
    std::string
        txt_record; // "v=DKIM1; k=rsa; p=MIIB..." (k=ed25519: the raw 32-byte key, RFC 8463 §4.2)
};
NewKey generate_key(KeyType type, int rsa_bits = 2048);

// The TXT record that publishes the public half of a private key.
std::string txt_record_for(const std::string& private_pem, KeyType type);

// A published key record (RFC 6376 §3.6.1): tag=value pairs separated by
// ";", blanks around them ignored, the TXT strings already joined.
struct KeyRecord {
    std::map<std::string, std::string> tags; // as written; p= with blanks removed
    std::string version() const;             // v=, "" when absent (it is optional)
    std::string key_type() const;            // k=, default "rsa"
    std::string public_key() const;          // p= (base64), "" when revoked
};
// nullopt (and `error` set) when the text is not a key record: a tag
// without "=", a repeated tag (§3.2), v= not first or not "DKIM1", no p=.
std::optional<KeyRecord> parse_key_record(std::string_view txt, std::string& error);

// Whether `record` publishes the public half of `key`; when not, `why`
// says what differs (key type, the key itself, revoked, an h= without
// sha256, an s= without email).
bool record_matches_key(const KeyRecord& record, const SigningKey& key, std::string& why);

// A domain as it may name a directory under control/domainkeys: letters,
// digits, "-", "_" in dot-separated labels of 1-63, at most 253 in all.
// The domain comes from a stranger's From: header, so this is what keeps
// "../" out of the key paths.
bool valid_domain_name(std::string_view domain);

// A selector as a key file's base name (see find_signing_keys, step 3):
// 1-63 letters, digits, "-" or "_".
bool valid_selector(std::string_view selector);

} // namespace authguard::dkim
