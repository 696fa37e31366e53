// keys.cpp - DKIM signing keys (include/authguard/dkim/keys.hpp): finding
// a domain's private keys the way IndiMail's qmail-dkim does, reading and
// checking them, making new ones, and the DNS key record (RFC 6376
// §3.6.1, RFC 8463) that publishes them. OpenSSL 3's EVP_PKEY does the
// cryptography; every OpenSSL object is owned by a unique_ptr. Key files
// and control/dkimkeys are read through read_control_file (no blocking
// open, regular files only, bounded), like every other control file.
#include "authguard/dkim/keys.hpp"

#include "authguard/config.hpp"
#include "authguard/encoding.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <system_error>

namespace authguard::dkim {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t largest_key_file = 64 << 10;
constexpr std::size_t largest_dkimkeys = 1 << 20;
constexpr int rsa_min_bits = 1024; // RFC 8301 §3.2: verifiers refuse less
constexpr int rsa_max_bits = 8192; // beyond this signing takes seconds

struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
    void operator()(BIO* p) const { BIO_free_all(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bio = std::unique_ptr<BIO, BioFree>;

// The most recent OpenSSL error, for a message; the queue is cleared so
// that a later failure does not report this one.
std::string openssl_error() {
    unsigned long code = ERR_peek_last_error();
    std::string text = "unknown OpenSSL error";
    if (code != 0) {
        std::array<char, 256> buf{};
        ERR_error_string_n(code, buf.data(), buf.size());
        text = buf.data();
    }
    ERR_clear_error();
    return text;
}

// A key file must never make OpenSSL ask for a passphrase on a terminal
// (the signer runs without one): an encrypted key is simply unreadable.
int no_passphrase(char*, int, int, void*) {
    return 0;
}

// The private key in `pem`, or null (OpenSSL's error queue cleared).
Pkey parse_private_pem(std::string_view pem) {
    if (pem.size() > static_cast<std::size_t>(INT_MAX)) return nullptr;
    Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return nullptr;
    Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
    ERR_clear_error();
    return key;
}

// The key's type, or an error text: only RSA (rsaEncryption, not RSA-PSS,
// which DKIM does not know) of rsa_min_bits..rsa_max_bits and ed25519.
std::optional<KeyType> supported_type(EVP_PKEY* key, std::string& error) {
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA: {
        int bits = EVP_PKEY_get_bits(key);
        if (bits < rsa_min_bits || bits > rsa_max_bits) {
            error = "an RSA key of " + std::to_string(bits) + " bits (DKIM wants " +
                    std::to_string(rsa_min_bits) + "-" + std::to_string(rsa_max_bits) +
                    ", 2048 recommended)";
            return std::nullopt;
        }
        return KeyType::rsa;
    }
    case EVP_PKEY_ED25519:
        return KeyType::ed25519;
    default:
        error = std::string("a ") +
                (EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "unknown") +
                " key (DKIM signs with rsa or ed25519)";
        return std::nullopt;
    }
}

// PEM PKCS#8, unencrypted: the one form libopendkim reads for every type.
std::string pkcs8_pem(EVP_PKEY* key) {
    Bio bio(BIO_new(BIO_s_mem()));
    if (!bio ||
        PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        throw KeyError("cannot write the key as PEM: " + openssl_error());
    char* data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    if (size <= 0 || !data) throw KeyError("cannot write the key as PEM: empty output");
    return std::string(data, static_cast<std::size_t>(size));
}

// The bytes p= publishes: SubjectPublicKeyInfo DER for RSA (RFC 6376
// §3.6.1), the raw 32-byte key for ed25519 (RFC 8463 §4.2).
std::string public_key_bytes(EVP_PKEY* key, KeyType type) {
    if (type == KeyType::ed25519) {
        std::size_t size = 0;
        if (EVP_PKEY_get_raw_public_key(key, nullptr, &size) != 1)
            throw KeyError("cannot get the ed25519 public key: " + openssl_error());
        std::string out(size, '\0');
        if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(out.data()), &size) !=
            1)
            throw KeyError("cannot get the ed25519 public key: " + openssl_error());
        out.resize(size);
        return out;
    }
    int size = i2d_PUBKEY(key, nullptr);
    if (size <= 0) throw KeyError("cannot encode the RSA public key: " + openssl_error());
    std::string out(static_cast<std::size_t>(size), '\0');
    auto* p = reinterpret_cast<unsigned char*>(out.data());
    if (i2d_PUBKEY(key, &p) != size)
        throw KeyError("cannot encode the RSA public key: " + openssl_error());
    return out;
}

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool is_label_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

// Dot-separated labels of 1-63 label characters.
bool valid_labels(std::string_view name, std::size_t largest) {
    if (name.empty() || name.size() > largest) return false;
    std::size_t label = 0;
    for (char c : name) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
        } else if (is_label_char(c) && ++label <= 63) {
            continue;
        } else {
            return false;
        }
    }
    return label > 0;
}

std::string mode_text(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

std::string replace_percent(std::string_view path, std::string_view domain) {
    std::string out;
    for (char c : path) {
        if (c == '%')
            out += domain;
        else
            out += c;
    }
    return out;
}

// Relative paths in control/dkimkeys and $DKIMSIGN are taken from the qmail
// home (the control directory's parent), where qmail-smtpd, and so
// qmail-dkim, run.
fs::path from_qmail_home(const fs::path& control_dir, const std::string& path) {
    fs::path p(path);
    return p.is_relative() ? control_dir.parent_path() / p : p;
}

bool exists_no_throw(const fs::path& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 || errno != ENOENT;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back()))
        s.remove_suffix(1);
    return s;
}

// Reads one key into `keys`, or describes why not in `problems`.
void add_key(const fs::path& path, std::string_view domain, std::vector<SigningKey>& keys,
             std::vector<std::string>& problems) {
    try {
        keys.push_back(read_signing_key(path, domain));
    } catch (const KeyError& e) {
        problems.emplace_back(e.what());
    }
}

} // namespace

std::string_view to_string(KeyType type) {
    return type == KeyType::ed25519 ? "ed25519" : "rsa";
}

bool valid_domain_name(std::string_view domain) {
    return valid_labels(domain, 253);
}

bool valid_selector(std::string_view selector) {
    return !selector.empty() && selector.size() <= 63 &&
           std::all_of(selector.begin(), selector.end(), is_label_char);
}

SigningKey read_signing_key(const std::filesystem::path& path, std::string_view domain) {
    const std::string name = path.string();
    std::optional<std::string> text;
    try {
        text = read_control_file(path, largest_key_file);
    } catch (const ConfigError& e) {
        std::string why = e.what();
        // read_text says "too large for a control file"; this is a key.
        if (auto at = why.find("for a control file"); at != std::string::npos)
            why.replace(at, std::strlen("for a control file"), "for a key file (64 KiB at most)");
        throw KeyError(why);
    }
    if (!text) throw KeyError(name + ": no such key file");
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        throw KeyError(name + ": cannot read: " + std::strerror(errno));
    // A key others can read signs anyone's mail in the domain's name.
    if (st.st_mode & S_IROTH)
        throw KeyError(name + ": the private key is readable by others (mode " +
                       mode_text(st.st_mode) + "); chmod 0640 (group: the signer's) or 0600");
    Pkey key = parse_private_pem(*text);
    if (!key)
        throw KeyError(name + ": not a PEM private key (PKCS#1 or PKCS#8 RSA, PKCS#8 "
                              "ed25519, unencrypted)");
    std::string error;
    auto type = supported_type(key.get(), error);
    if (!type) throw KeyError(name + ": " + error);

    std::string selector = path.filename().string();
    // s= is taken from the file's name, as qmail-dkim does; dots are
    // allowed in a selector (RFC 6376 §3.1), "/" cannot occur.
    if (!valid_labels(selector, 253))
        throw KeyError(name + ": '" + selector + "' is not a valid DKIM selector (s=)");

    SigningKey out;
    out.domain = lower(domain);
    out.selector = std::move(selector);
    out.type = *type;
    // Re-encoded as PKCS#8: a PKCS#1 RSA file (openssl genrsa, dknewkey)
    // then reaches libopendkim in the one form it reads for every type, and
    // anything else the file held beside the key is dropped.
    // A file that already holds a PKCS#8 PEM block is handed on as it is:
    // OpenSSL 3's first PEM encoding in a process costs milliseconds, and
    // this runs for every message signed.
    static constexpr std::string_view begin = "-----BEGIN PRIVATE KEY-----";
    static constexpr std::string_view end = "-----END PRIVATE KEY-----";
    auto b = text->find(begin);
    auto e = b == std::string::npos ? std::string::npos : text->find(end, b);
    if (e != std::string::npos && text->find("-----BEGIN", b + begin.size()) > e)
        out.pem = text->substr(b, e + end.size() - b) + "\n";
    else
        out.pem = pkcs8_pem(key.get());
    out.path = path;
    return out;
}

std::vector<SigningKey> find_signing_keys(const KeySources& sources, std::string_view domain_in,
                                          std::vector<std::string>& problems) {
    std::vector<SigningKey> keys;
    const std::string domain = lower(domain_in);
    if (!valid_domain_name(domain)) {
        problems.push_back("'" + domain + "' is not a domain name a key can be looked up for");
        return keys;
    }

    // 1. control/dkimkeys: "domain:path" lines; every line for the domain
    //    names a key (several sign once each).
    const fs::path dkimkeys = sources.control_dir / "dkimkeys";
    std::optional<std::string> table;
    try {
        table = read_control_file(dkimkeys, largest_dkimkeys);
    } catch (const ConfigError& e) {
        problems.emplace_back(e.what());
    }
    if (table) {
        bool named = false;
        std::string_view rest = *table;
        std::size_t line_number = 0;
        while (!rest.empty()) {
            auto nl = rest.find('\n');
            std::string_view line = rest.substr(0, nl);
            rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
            ++line_number;
            line = trim(line);
            if (line.empty() || line.front() == '#') continue;
            auto colon = line.find(':');
            if (colon == std::string_view::npos) {
                problems.push_back(dkimkeys.string() + ":" + std::to_string(line_number) +
                                   ": not \"domain:path\"");
                continue;
            }
            if (lower(trim(line.substr(0, colon))) != domain) continue;
            std::string_view path = trim(line.substr(colon + 1));
            if (path.empty()) {
                problems.push_back(dkimkeys.string() + ":" + std::to_string(line_number) +
                                   ": no key path");
                continue;
            }
            named = true;
            add_key(from_qmail_home(sources.control_dir, replace_percent(path, domain)), domain,
                    keys, problems);
        }
        if (named) return keys;
    }

    // 2. $DKIMSIGN, else $DKIMKEY: "%" is the domain; when that file does
    //    not exist, the same path with "%" removed.
    const std::optional<std::string>& variable =
        sources.dkimsign && !sources.dkimsign->empty() ? sources.dkimsign : sources.dkimkey;
    if (variable && !variable->empty()) {
        fs::path path = from_qmail_home(sources.control_dir, replace_percent(*variable, domain));
        bool has_percent = variable->find('%') != std::string::npos;
        if (!exists_no_throw(path) && has_percent)
            path = from_qmail_home(sources.control_dir, replace_percent(*variable, ""));
        if (exists_no_throw(path)) {
            add_key(path, domain, keys, problems);
            return keys;
        }
        // Without "%" the variable names one key for every domain: its
        // absence is a mistake, not a domain without a key.
        if (!has_percent) problems.push_back(path.string() + ": no such key file");
    }

    // 3. control/domainkeys/DOMAIN/: every file named like a selector.
    const fs::path dir = sources.control_dir / "domainkeys" / domain;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
        if (ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
            problems.push_back(dir.string() + ": cannot list: " + ec.message());
        return keys;
    }
    std::vector<fs::path> files;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) break;
        std::string name = it->path().filename().string();
        if (!valid_selector(name)) continue; // "default.pub", "default.txt", editor files
        std::error_code type_ec;
        if (!it->is_regular_file(type_ec)) continue;
        files.push_back(it->path());
    }
    if (ec) problems.push_back(dir.string() + ": cannot list: " + ec.message());
    std::sort(files.begin(), files.end()); // the same signature order every time
    for (const auto& file : files)
        add_key(file, domain, keys, problems);
    return keys;
}

NewKey generate_key(KeyType type, int rsa_bits) {
    Pkey key;
    if (type == KeyType::rsa) {
        if (rsa_bits < rsa_min_bits || rsa_bits > rsa_max_bits)
            throw KeyError("an RSA key must have " + std::to_string(rsa_min_bits) + "-" +
                           std::to_string(rsa_max_bits) + " bits, not " + std::to_string(rsa_bits));
        key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(rsa_bits)));
    } else {
        key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    }
    if (!key)
        throw KeyError("cannot make a " + std::string(to_string(type)) +
                       " key: " + openssl_error());
    NewKey out;
    out.private_pem = pkcs8_pem(key.get());
    out.txt_record = txt_record_for(out.private_pem, type);
    return out;
}

std::string txt_record_for(const std::string& private_pem, KeyType type) {
    Pkey key = parse_private_pem(private_pem);
    if (!key) throw KeyError("not a PEM private key");
    std::string error;
    auto actual = supported_type(key.get(), error);
    if (!actual) throw KeyError(error);
    if (*actual != type)
        throw KeyError("the key is " + std::string(to_string(*actual)) + ", not " +
                       std::string(to_string(type)));
    return "v=DKIM1; k=" + std::string(to_string(type)) +
           "; p=" + base64_encode(public_key_bytes(key.get(), type));
}

std::string KeyRecord::version() const {
    auto it = tags.find("v");
    return it == tags.end() ? std::string() : it->second;
}

std::string KeyRecord::key_type() const {
    auto it = tags.find("k");
    return it == tags.end() ? std::string("rsa") : it->second;
}

std::string KeyRecord::public_key() const {
    auto it = tags.find("p");
    return it == tags.end() ? std::string() : it->second;
}

std::optional<KeyRecord> parse_key_record(std::string_view txt, std::string& error) {
    // RFC 6376 §3.2: tag-spec *( ";" tag-spec ) [ ";" ], blanks (FWS)
    // around names, "=" and values. Empty specs (";;") are passed over,
    // as verifiers do.
    KeyRecord record;
    bool first = true;
    std::size_t start = 0;
    while (start <= txt.size()) {
        auto semi = txt.find(';', start);
        std::string_view spec = txt.substr(
            start, semi == std::string_view::npos ? std::string_view::npos : semi - start);
        start = semi == std::string_view::npos ? txt.size() + 1 : semi + 1;
        spec = trim(spec);
        if (spec.empty()) continue;
        auto eq = spec.find('=');
        if (eq == std::string_view::npos) {
            error = "a tag without \"=\": '" + std::string(spec.substr(0, 40)) + "'";
            return std::nullopt;
        }
        std::string name(trim(spec.substr(0, eq)));
        std::string_view value = trim(spec.substr(eq + 1));
        bool name_ok = !name.empty() && std::isalpha(static_cast<unsigned char>(name[0])) &&
                       std::all_of(name.begin(), name.end(), [](char c) {
                           return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                       });
        if (!name_ok) {
            error = "a bad tag name '" + name.substr(0, 40) + "'";
            return std::nullopt;
        }
        // tval is VALCHAR (0x21-0x7e but ";") with blanks between.
        for (char c : value) {
            auto u = static_cast<unsigned char>(c);
            if (!is_blank(c) && (u < 0x21 || u > 0x7e)) {
                error = "a byte outside the tag-value syntax in " + name + "=";
                return std::nullopt;
            }
        }
        if (record.tags.count(name)) {
            error = "the tag " + name + "= occurs twice (RFC 6376 §3.2)";
            return std::nullopt;
        }
        if (name == "v" && !first) {
            error = "v= is not the first tag (RFC 6376 §3.6.1)";
            return std::nullopt;
        }
        if (name == "v" && value != "DKIM1") {
            error = "v=" + std::string(value.substr(0, 40)) + " is not v=DKIM1";
            return std::nullopt;
        }
        std::string kept(value);
        if (name == "p") std::erase_if(kept, is_blank);
        record.tags.emplace(std::move(name), std::move(kept));
        first = false;
    }
    if (!record.tags.count("p")) {
        error = "no p= tag (not a DKIM key record)";
        return std::nullopt;
    }
    return record;
}

bool record_matches_key(const KeyRecord& record, const SigningKey& key, std::string& why) {
    std::string p = record.public_key();
    if (p.empty()) {
        why = "the key is revoked (empty p=)";
        return false;
    }
    std::string k = lower(record.key_type());
    if (k != to_string(key.type)) {
        why =
            "key type: the record has k=" + k + ", the key is " + std::string(to_string(key.type));
        return false;
    }
    // h= (acceptable hashes) and s= (service types) as a verifier reads them.
    auto colon_list_has = [](const std::string& list, std::string_view want, std::string_view any) {
        std::string_view rest = list;
        while (true) {
            auto c = rest.find(':');
            std::string item = lower(trim(rest.substr(0, c)));
            if (item == want || (!any.empty() && item == any)) return true;
            if (c == std::string_view::npos) return false;
            rest.remove_prefix(c + 1);
        }
    };
    if (auto h = record.tags.find("h");
        h != record.tags.end() && !colon_list_has(h->second, "sha256", "")) {
        why = "h=" + h->second + " does not allow sha256";
        return false;
    }
    if (auto s = record.tags.find("s");
        s != record.tags.end() && !colon_list_has(s->second, "email", "*")) {
        why = "s=" + s->second + " does not include email";
        return false;
    }

    auto published = base64_decode(p, Base64Blanks::skipped);
    if (!published) {
        why = "p= is not valid base64";
        return false;
    }
    Pkey own = parse_private_pem(key.pem);
    if (!own) {
        why = "the private key cannot be read";
        return false;
    }
    std::string expected;
    try {
        expected = public_key_bytes(own.get(), key.type);
    } catch (const KeyError& e) {
        why = e.what();
        return false;
    }
    if (*published == expected) return true;

    // Say what p= holds instead.
    const auto* der = reinterpret_cast<const unsigned char*>(published->data());
    Pkey other(d2i_PUBKEY(nullptr, &der, static_cast<long>(published->size())));
    ERR_clear_error();
    if (key.type == KeyType::ed25519) {
        if (other && EVP_PKEY_get_base_id(other.get()) == EVP_PKEY_ED25519)
            why = "p= holds a SubjectPublicKeyInfo; RFC 8463 publishes the raw 32-byte key";
        else if (published->size() != 32)
            why =
                "p= is not a 32-byte ed25519 key (" + std::to_string(published->size()) + " bytes)";
        else
            why = "p= is another ed25519 key";
        return false;
    }
    if (!other)
        why = "p= is not an RSA public key (SubjectPublicKeyInfo)";
    else if (EVP_PKEY_get_base_id(other.get()) != EVP_PKEY_RSA)
        why = "p= is not an RSA public key";
    else if (EVP_PKEY_get_bits(other.get()) != EVP_PKEY_get_bits(own.get()))
        why = "p= is another RSA key (" + std::to_string(EVP_PKEY_get_bits(other.get())) +
              " bits; this one has " + std::to_string(EVP_PKEY_get_bits(own.get())) + ")";
    else
        why = "p= is another RSA key";
    return false;
}

} // namespace authguard::dkim
