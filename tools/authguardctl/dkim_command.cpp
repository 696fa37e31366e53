// dkim_command.cpp - authguardctl dkim: making a domain's DKIM key in
// IndiMail's layout (control/domainkeys/DOMAIN/SELECTOR, so qmail-dkim and
// authguard-dkim both find it) with the DNS record to publish, and
// checking the published record against the keys authguard-dkim would sign
// with. The keys themselves are lib/dkim/keys.cpp; this file reads the
// command line, writes the files safely, asks DNS and prints.
#include "ctl.hpp"

#include "authguard/dkim/keys.hpp"
#include "authguard/fd.hpp"

#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>

#include <grp.h>
#include <netdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace authguardctl {

namespace {

namespace dkim = authguard::dkim;
namespace fs = std::filesystem;

constexpr std::string_view dkim_usage =
    "dkim keygen DOMAIN [--selector S] [--type rsa|ed25519] [--bits N] [--force] [--group G]"
    " | dkim check DOMAIN [--selector S]";

[[noreturn]] void dkim_usage_error(const std::string& why) {
    throw UsageError(why + " (usage: authguardctl " + std::string(dkim_usage) + ")");
}

std::string lower(std::string text) {
    for (char& c : text)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return text;
}

std::string domain_arg(const Context& ctx) {
    if (ctx.args.size() != 2) dkim_usage_error("dkim " + ctx.args[0] + " wants one DOMAIN");
    std::string domain = lower(ctx.args[1]);
    if (!domain.empty() && domain.back() == '.') domain.pop_back(); // "example.com."
    if (!dkim::valid_domain_name(domain)) dkim_usage_error("'" + ctx.args[1] + "' is not a domain");
    return domain;
}

std::optional<std::string> selector_option(const Context& ctx) {
    if (!ctx.options.count("selector")) return std::nullopt;
    std::string selector = ctx.options["selector"].as<std::string>();
    if (!dkim::valid_selector(selector))
        dkim_usage_error("--selector '" + selector +
                         "' is not a selector (1-63 letters, digits, '-', '_')");
    return selector;
}

std::string sys_error(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

// The group the key gets: --group, else that of control/authguard (which
// make install gives the group of the user qmail-smtpd runs as, the user
// authguard-dkim runs as), else the caller's own (nullopt).
std::optional<gid_t> key_group(const Context& ctx) {
    if (ctx.options.count("group")) {
        std::string name = ctx.options["group"].as<std::string>();
        if (struct group* g = ::getgrnam(name.c_str())) return g->gr_gid;
        char* end = nullptr;
        long number = std::strtol(name.c_str(), &end, 10);
        if (!name.empty() && *end == '\0' && number >= 0) return static_cast<gid_t>(number);
        dkim_usage_error("--group '" + name + "': no such group");
    }
    struct stat st {};
    if (::stat((ctx.control_dir / "authguard").c_str(), &st) != 0 || st.st_gid == ::getegid())
        return std::nullopt;
    // Only root, or a member of the group, may give a file that group.
    if (::geteuid() == 0) return st.st_gid;
    std::vector<gid_t> mine(static_cast<std::size_t>(std::max(::getgroups(0, nullptr), 0)));
    int count = ::getgroups(static_cast<int>(mine.size()), mine.data());
    for (int i = 0; i < count; ++i)
        if (mine[static_cast<std::size_t>(i)] == st.st_gid) return st.st_gid;
    std::cerr << "authguardctl: note: not allowed to give the key the group of "
              << esc((ctx.control_dir / "authguard").string())
              << " (not root); it keeps yours: chgrp it to the signer's group\n";
    return std::nullopt;
}

// mkdir DIR with exactly `mode` (not narrowed by the umask) and the group;
// an existing directory is left as it is.
void make_dir(const fs::path& dir, mode_t mode, std::optional<gid_t> group) {
    if (::mkdir(dir.c_str(), mode) != 0) {
        if (errno == EEXIST && fs::is_directory(dir)) return;
        throw std::runtime_error(sys_error("cannot create " + dir.string()));
    }
    if (group && ::chown(dir.c_str(), static_cast<uid_t>(-1), *group) != 0)
        throw std::runtime_error(sys_error("cannot give " + dir.string() + " its group"));
    if (::chmod(dir.c_str(), mode) != 0)
        throw std::runtime_error(sys_error("cannot set the mode of " + dir.string()));
}

// Writes `target` whole or not at all: a temporary file beside it (a
// dot name, never taken for a key), created 0600 by mkostemp and given
// its group and `mode` before a byte is written, so that a private key is
// never readable by others even briefly; then fsync and rename. Without
// `replace` an existing target is kept (RENAME_NOREPLACE: no window
// between a check and the rename) and this returns false.
bool write_atomically(const fs::path& target, std::string_view content, mode_t mode,
                      std::optional<gid_t> group, bool replace) {
    std::string temp =
        (target.parent_path() / ("." + target.filename().string() + ".XXXXXX")).string();
    authguard::Fd fd(::mkostemp(temp.data(), O_CLOEXEC));
    if (fd.get() < 0)
        throw std::runtime_error(
            sys_error("cannot create a file in " + target.parent_path().string()));
    struct Remove {
        std::string path;
        bool keep = false;
        ~Remove() {
            if (!keep) ::unlink(path.c_str());
        }
    } remove{temp};
    if (group && ::fchown(fd.get(), static_cast<uid_t>(-1), *group) != 0)
        throw std::runtime_error(sys_error("cannot give " + target.string() + " its group"));
    if (::fchmod(fd.get(), mode) != 0)
        throw std::runtime_error(sys_error("cannot set the mode of " + target.string()));
    if (!authguard::write_all(fd.get(), content.data(), content.size()) || ::fsync(fd.get()) != 0)
        throw std::runtime_error(sys_error("cannot write " + target.string()));
    fd.reset();
    int rc = replace
                 ? ::rename(temp.c_str(), target.c_str())
                 : ::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE);
    if (rc != 0) {
        if (!replace && errno == EEXIST) return false;
        throw std::runtime_error(sys_error("cannot rename into " + target.string()));
    }
    remove.keep = true;
    // The rename itself durable: the directory's entry.
    authguard::Fd dir(::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() >= 0) ::fsync(dir.get());
    return true;
}

// The TXT record as zone-file strings of at most 255 characters (RFC 1035
// §3.3.14): the tags before p= in one, p= cut into as many as it takes.
std::vector<std::string> txt_strings(const std::string& record) {
    std::vector<std::string> out;
    auto p = record.find("p=");
    std::string head = p == std::string::npos ? record : record.substr(0, p);
    std::string key = p == std::string::npos ? std::string() : record.substr(p);
    if (!head.empty()) out.push_back(head);
    for (std::size_t i = 0; i < key.size(); i += 255)
        out.push_back(key.substr(i, 255));
    return out;
}

std::string zone_line(const std::string& name, const std::string& record) {
    std::string line = name + ". IN TXT (";
    for (const auto& s : txt_strings(record))
        line += " \"" + s + "\"";
    return line + " )";
}

int dkim_keygen(Context& ctx) {
    std::string domain = domain_arg(ctx);
    std::string selector = selector_option(ctx).value_or("default");
    std::string type_name = ctx.options["type"].as<std::string>();
    dkim::KeyType type;
    if (type_name == "rsa")
        type = dkim::KeyType::rsa;
    else if (type_name == "ed25519")
        type = dkim::KeyType::ed25519;
    else
        dkim_usage_error("--type '" + type_name + "': rsa or ed25519");
    int bits = ctx.options["bits"].as<int>();
    if (type == dkim::KeyType::ed25519 && !ctx.options["bits"].defaulted())
        dkim_usage_error("--bits is for rsa keys (an ed25519 key has no size to choose)");
    if (type == dkim::KeyType::rsa && (bits < 1024 || bits > 8192))
        dkim_usage_error("--bits " + std::to_string(bits) + ": 1024-8192 (2048 recommended)");
    bool force = ctx.options["force"].as<bool>();
    // The keys go into the control directory qmail already has; making one
    // here would hide a wrong --control or AUTHGUARD_CONTROL.
    if (!fs::is_directory(ctx.control_dir))
        throw authguard::ConfigError("the control directory " + ctx.control_dir.string() +
                                     " does not exist (--control, AUTHGUARD_CONTROL)");
    std::optional<gid_t> group = key_group(ctx);
    if (!ctx.options.count("group") && !fs::exists(ctx.control_dir / "authguard"))
        std::cerr << "authguardctl: note: " << esc((ctx.control_dir / "authguard").string())
                  << " does not exist, so the key gets your group; authguard-dkim runs as "
                     "qmail-smtpd's user and must read it: use --group, or chgrp it\n";

    const fs::path top = ctx.control_dir / "domainkeys";
    const fs::path dir = top / domain;
    const fs::path key_path = dir / selector;
    const fs::path pub_path = dir / (selector + ".pub");
    // Before the (slow) key generation: the usual refusal comes at once.
    struct stat st {};
    if (!force && ::lstat(key_path.c_str(), &st) == 0)
        throw NotFound(key_path.string() + " exists; --force replaces it (then publish the "
                                           "new record before signing with it)");

    dkim::NewKey key = dkim::generate_key(type, bits);
    make_dir(top, 0755, std::nullopt);
    // 0750: the signer's group may list the keys, others may not.
    make_dir(dir, 0750, group);
    if (!write_atomically(key_path, key.private_pem, 0640, group, force))
        throw NotFound(key_path.string() + " exists; --force replaces it");
    write_atomically(pub_path, key.txt_record + "\n", 0644, group, true);

    const std::string name = selector + "._domainkey." + domain;
    if (ctx.json) {
        Json j;
        j.begin_object();
        j.key("domain").value(domain).key("selector").value(selector);
        j.key("type").value(std::string(dkim::to_string(type)));
        if (type == dkim::KeyType::rsa)
            j.key("bits").value(bits);
        else
            j.key("bits").null();
        j.key("key").value(key_path.string()).key("public").value(pub_path.string());
        j.key("name").value(name).key("txt").value(key.txt_record);
        j.key("zone_line").value(zone_line(name, key.txt_record));
        j.end_object();
        print_json(j);
        return exit_ok;
    }
    std::cout << zone_line(name, key.txt_record) << "\n";
    return exit_ok;
}

// ---- check --------------------------------------------------------------

struct TxtAnswer {
    enum class Status { found, not_published, error } status = Status::error;
    std::vector<std::string> records; // each TXT record's strings joined
    std::string error;
};

// A resolver state of its own (res_n*: no global state), closed at the end.
struct Resolver {
    struct __res_state state {};
    bool open = false;
    Resolver() = default;
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;
    ~Resolver() {
        if (open) res_nclose(&state);
    }
};

// NAME's TXT records through the system resolver (/etc/resolv.conf).
TxtAnswer lookup_txt(const std::string& name) {
    TxtAnswer out;
    auto resolver = std::make_unique<Resolver>(); // zeroed, as res_ninit wants
    if (res_ninit(&resolver->state) != 0) {
        out.error = "cannot set up the resolver (/etc/resolv.conf)";
        return out;
    }
    resolver->open = true;
    res_state state = &resolver->state;
    std::vector<unsigned char> answer(65535);
    int n = res_nquery(state, name.c_str(), ns_c_in, ns_t_txt, answer.data(),
                       static_cast<int>(answer.size()));
    if (n < 0) {
        switch (state->res_h_errno) {
        case HOST_NOT_FOUND:
        case NO_DATA:
            out.status = TxtAnswer::Status::not_published;
            return out;
        case TRY_AGAIN:
            out.error = "no answer (timeout or SERVFAIL)";
            return out;
        default:
            out.error = "the query failed (refused or a bad answer)";
            return out;
        }
    }
    ns_msg msg;
    if (ns_initparse(answer.data(), std::min(n, static_cast<int>(answer.size())), &msg) < 0) {
        out.error = "an answer that cannot be parsed";
        return out;
    }
    for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, i, &rr) < 0) {
            out.error = "an answer that cannot be parsed";
            return out;
        }
        if (ns_rr_type(rr) != ns_t_txt) continue; // the CNAMEs followed
        const unsigned char* data = ns_rr_rdata(rr);
        std::size_t size = ns_rr_rdlen(rr), at = 0;
        std::string joined;
        while (at < size) {
            std::size_t length = data[at];
            if (at + 1 + length > size) {
                out.error = "a TXT record that cannot be parsed";
                return out;
            }
            joined.append(reinterpret_cast<const char*>(data + at + 1), length);
            at += 1 + length;
        }
        out.records.push_back(std::move(joined));
    }
    out.status = out.records.empty() ? TxtAnswer::Status::not_published : TxtAnswer::Status::found;
    return out;
}

struct CheckResult {
    std::string status; // ok, differs, not-published, dns-error, bad-record
    std::string detail;
};

CheckResult check_key(const dkim::SigningKey& key, const std::string& name) {
    TxtAnswer answer = lookup_txt(name);
    if (answer.status == TxtAnswer::Status::not_published) return {"not-published", ""};
    if (answer.status == TxtAnswer::Status::error) return {"dns-error", answer.error};
    std::vector<dkim::KeyRecord> records;
    std::string error;
    for (const auto& text : answer.records) {
        std::string why;
        if (auto record = dkim::parse_key_record(text, why))
            records.push_back(std::move(*record));
        else if (error.empty())
            error = why;
    }
    if (records.empty()) return {"bad-record", error};
    if (records.size() > 1)
        return {"differs", std::to_string(records.size()) +
                               " key records at one name: a verifier may take any"};
    std::string why;
    if (!dkim::record_matches_key(records.front(), key, why)) return {"differs", why};
    return {"ok", ""};
}

std::string status_text(const CheckResult& r) {
    if (r.status == "ok") return "ok";
    if (r.status == "not-published") return "not published";
    if (r.status == "dns-error") return "DNS error: " + r.detail;
    if (r.status == "bad-record") return "not a DKIM key record: " + r.detail;
    return "differs: " + r.detail;
}

int dkim_check(Context& ctx) {
    std::string domain = domain_arg(ctx);
    auto selector = selector_option(ctx);
    if (ctx.options.count("group") || ctx.options["force"].as<bool>() ||
        !ctx.options["type"].defaulted() || !ctx.options["bits"].defaulted())
        dkim_usage_error("dkim check takes only --selector");

    // The keys authguard-dkim would sign with, found the same way.
    dkim::KeySources sources;
    sources.control_dir = ctx.control_dir;
    if (const char* v = std::getenv("DKIMSIGN")) sources.dkimsign = v;
    if (const char* v = std::getenv("DKIMKEY")) sources.dkimkey = v;
    std::vector<std::string> problems;
    std::vector<dkim::SigningKey> keys = dkim::find_signing_keys(sources, domain, problems);
    if (selector)
        std::erase_if(keys, [&](const dkim::SigningKey& k) { return k.selector != *selector; });
    if (keys.empty() && problems.empty())
        throw NotFound("no signing key for " + domain +
                       (selector ? " with selector " + *selector : std::string()) + " (under " +
                       (ctx.control_dir / "domainkeys" / domain).string() +
                       ", control/dkimkeys, $DKIMSIGN, $DKIMKEY)");

    bool all_ok = problems.empty() && !keys.empty();
    Json j;
    j.begin_object().key("domain").value(domain).key("keys").begin_array();
    for (const auto& key : keys) {
        const std::string name = key.selector + "._domainkey." + domain;
        CheckResult r = check_key(key, name);
        all_ok = all_ok && r.status == "ok";
        if (ctx.json) {
            j.begin_object();
            j.key("selector").value(key.selector).key("name").value(name);
            j.key("type").value(std::string(dkim::to_string(key.type)));
            j.key("key").value(key.path.string());
            j.key("status").value(r.status).key("detail").value(r.detail);
            j.end_object();
        } else {
            std::cout << esc(name) << ": " << esc(status_text(r)) << "\n";
        }
    }
    j.end_array().key("problems").begin_array();
    for (const auto& p : problems) {
        j.value(p);
        if (!ctx.json) std::cout << esc(domain) << ": key error: " << esc(p) << "\n";
    }
    j.end_array().end_object();
    if (ctx.json) print_json(j);
    return all_ok ? exit_ok : exit_not_found;
}

} // namespace

void add_dkim_options(po::options_description& d) {
    auto add = d.add_options();
    add("selector", po::value<std::string>()->value_name("S"),
        "the selector (s=): keygen's file name, default \"default\"; check: only this one");
    add("type", po::value<std::string>()->value_name("rsa|ed25519")->default_value("rsa"),
        "keygen: the key type");
    add("bits", po::value<int>()->value_name("N")->default_value(2048),
        "keygen: bits of an RSA key (1024-8192)");
    add("force", po::bool_switch(), "keygen: replace an existing key");
    add("group", po::value<std::string>()->value_name("G"),
        "keygen: the key's group (default: that of control/authguard)");
}

int cmd_dkim(Context& ctx) {
    const std::string& sub = ctx.args.at(0);
    if (sub == "keygen") return dkim_keygen(ctx);
    if (sub == "check") return dkim_check(ctx);
    dkim_usage_error("unknown dkim command '" + sub + "'");
}

} // namespace authguardctl
