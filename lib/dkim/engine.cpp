// dkim/engine.cpp - libopendkim behind dkim/engine.hpp. The library's
// pitfalls on Debian 12 (shared/qmail-interfaces.md) are handled here and
// only here: its header wants C's _Bool; it wants CRLF (the caller feeds
// CRLF, see CrlfFeed); DKIM_SIGFLAG_PASSED is set even when the body hash
// does not match (DKIM_SIG_CHECK tests both); with simple header
// canonicalisation its folding of an ed25519 signature breaks it, so such
// signatures are made unfolded (margin 0); its own resolver setup
// (dkim_dns_nslist) is broken, so keys are fetched by our callback, from
// a fixed table (tests) or with res_nquery under our own timeout.
#include "authguard/dkim/engine.hpp"

#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <sys/types.h>

#define _Bool bool
extern "C" {
#include <opendkim/dkim.h>
}
#undef _Bool

#include <algorithm>
#include <cctype>
#include <cstring>

namespace authguard::dkim {

namespace {

unsigned char* bytes(std::string& s) {
    return reinterpret_cast<unsigned char*>(s.data());
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

struct DkimFree {
    void operator()(DKIM* d) const { dkim_free(d); }
};
using Handle = std::unique_ptr<DKIM, DkimFree>;

// What the key lookup callback reads and writes (dkim_set_user_context):
// one per verifier. libopendkim reports a lookup that could not be
// answered (our TRYAGAIN) as a bad signature with no error code, so the
// callback keeps the names itself.
struct LookupContext {
    const KeyLookup* lookup = nullptr;
    std::vector<std::string> unanswered; // "selector._domainkey.domain", lower case
};

// The TXT record at `name`: its strings joined. CONTINUE with the text,
// NOTFOUND (NXDOMAIN, no TXT), TRYAGAIN (no answer, SERVFAIL) or ERROR.
DKIM_CBSTAT resolve_txt(const std::string& name, std::chrono::seconds timeout, std::string& text) {
    struct __res_state state {};
    if (res_ninit(&state) != 0) return DKIM_CBSTAT_TRYAGAIN;
    struct Closer {
        struct __res_state* s;
        ~Closer() { res_nclose(s); }
    } closer{&state};
    state.retrans = static_cast<int>(std::max<long>(1, timeout.count()));
    state.retry = 1;
    unsigned char answer[8192];
    int n = res_nquery(&state, name.c_str(), ns_c_in, ns_t_txt, answer, sizeof answer);
    if (n < 0) {
        switch (state.res_h_errno) {
        case HOST_NOT_FOUND:
        case NO_DATA:
            return DKIM_CBSTAT_NOTFOUND;
        default:
            return DKIM_CBSTAT_TRYAGAIN;
        }
    }
    ns_msg msg;
    if (ns_initparse(answer, n, &msg) != 0) return DKIM_CBSTAT_ERROR;
    int records = 0;
    for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, i, &rr) != 0) return DKIM_CBSTAT_ERROR;
        if (ns_rr_type(rr) != ns_t_txt) continue;    // the CNAME chain's links
        if (++records > 1) return DKIM_CBSTAT_ERROR; // RFC 6376 §3.6.2.2: one record
        const unsigned char* p = ns_rr_rdata(rr);
        const unsigned char* end = p + ns_rr_rdlen(rr);
        while (p < end) {
            std::size_t len = *p++;
            if (len > static_cast<std::size_t>(end - p)) return DKIM_CBSTAT_ERROR;
            text.append(reinterpret_cast<const char*>(p), len);
            p += len;
        }
    }
    return records ? DKIM_CBSTAT_CONTINUE : DKIM_CBSTAT_NOTFOUND;
}

extern "C" DKIM_CBSTAT key_lookup(DKIM* dkim, DKIM_SIGINFO* sig, u_char* buf, size_t buflen) {
    auto* context = static_cast<LookupContext*>(dkim_get_user_context(dkim));
    const unsigned char* selector = dkim_sig_getselector(sig);
    const unsigned char* domain = dkim_sig_getdomain(sig);
    if (!context || !context->lookup || !selector || !domain || buflen == 0)
        return DKIM_CBSTAT_ERROR;
    std::string name = std::string(reinterpret_cast<const char*>(selector)) + "." +
                       DKIM_DNSKEYNAME + "." + reinterpret_cast<const char*>(domain);
    std::string text;
    DKIM_CBSTAT status = DKIM_CBSTAT_NOTFOUND;
    if (!context->lookup->fixed.empty()) {
        std::string wanted = lower(name);
        for (const auto& [key, value] : context->lookup->fixed)
            if (lower(key) == wanted) {
                text = value;
                status = DKIM_CBSTAT_CONTINUE;
                break;
            }
    } else if (std::find(context->unanswered.begin(), context->unanswered.end(), lower(name)) !=
               context->unanswered.end()) {
        // libopendkim asks again at the end of the message for a key it
        // could not get at the end of the header: one wait per key.
        return DKIM_CBSTAT_TRYAGAIN;
    } else {
        try {
            status = resolve_txt(name, context->lookup->timeout, text);
        } catch (...) {
            return DKIM_CBSTAT_ERROR; // never let an exception into C
        }
    }
    if (status == DKIM_CBSTAT_TRYAGAIN) context->unanswered.push_back(lower(name));
    if (status != DKIM_CBSTAT_CONTINUE) return status;
    if (text.size() >= buflen) return DKIM_CBSTAT_ERROR;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    return DKIM_CBSTAT_CONTINUE;
}

std::string status_text(DKIM* d, DKIM_STAT status) {
    std::string text = dkim_getresultstr(status) ? dkim_getresultstr(status) : "error";
    if (d) {
        if (const char* e = dkim_geterror(d); e && *e) text += std::string(": ") + e;
    }
    return text;
}

// RFC 6376 §3.4.3/§3.4.4: a body that does not end in CRLF is hashed as
// if it did. libopendkim refuses such a body ("CRLF at end of body
// missing") unless DKIM_LIBFLAGS_FIXCRLF, which would also rescan every
// byte we already converted: the missing CRLF is added here instead.
struct BodyEnd {
    bool any = false;
    char last[2] = {0, 0};
    void saw(std::string_view chunk) {
        if (chunk.empty()) return;
        any = true;
        if (chunk.size() >= 2) {
            last[0] = chunk[chunk.size() - 2];
        } else {
            last[0] = last[1];
        }
        last[1] = chunk.back();
    }
    bool needs_crlf() const { return any && !(last[0] == '\r' && last[1] == '\n'); }
};

// libopendkim's folded value (CRLF + tab) for a message with `line_end`.
std::string with_line_ends(std::string_view value, LineEnd line_end) {
    std::string out;
    out.reserve(value.size() + 8);
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '\r' && i + 1 < value.size() && value[i + 1] == '\n') continue;
        if (value[i] == '\n') {
            out += line_end == LineEnd::crlf ? "\r\n" : "\n";
            continue;
        }
        out += value[i];
    }
    return out;
}

} // namespace

// ---- the library -------------------------------------------------------

struct Library::Impl {
    DKIM_LIB* lib = nullptr;
    KeyLookup lookup;
    ~Impl() {
        if (lib) dkim_close(lib);
    }
};

Library::Library(KeyLookup lookup) : impl_(std::make_unique<Impl>()) {
    impl_->lookup = std::move(lookup);
    impl_->lib = dkim_init(nullptr, nullptr);
    if (!impl_->lib) throw EngineError("libopendkim: cannot initialise");
    // RFC 6376 §5.4.2: sign one more From than there is, so that none can
    // be added after signing without breaking the signature.
    static const char* oversign[] = {"from", nullptr};
    unsigned int flags = DKIM_LIBFLAGS_NONE; // we feed CRLF (CrlfFeed)
    if (dkim_options(impl_->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags) !=
            DKIM_STAT_OK ||
        dkim_options(impl_->lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, oversign,
                     sizeof(const char**)) != DKIM_STAT_OK ||
        dkim_options(impl_->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, dkim_should_signhdrs,
                     sizeof(const u_char**)) != DKIM_STAT_OK)
        throw EngineError("libopendkim: cannot set the signing options");
    unsigned int timeout = static_cast<unsigned int>(impl_->lookup.timeout.count());
    dkim_options(impl_->lib, DKIM_OP_SETOPT, DKIM_OPTS_TIMEOUT, &timeout, sizeof timeout);
    if (dkim_set_key_lookup(impl_->lib, key_lookup) != DKIM_STAT_OK)
        throw EngineError("libopendkim: cannot set the key lookup");
}

Library::~Library() = default;

// ---- signing ------------------------------------------------------------

struct Signer::Impl {
    Handle handle;
    BodyEnd body_end;
    std::string key_pem; // libopendkim keeps a pointer to it until the end
};

Signer::Signer(const Library& library, const SigningKey& key, const SignOptions& options)
    : impl_(std::make_unique<Impl>()) {
    impl_->key_pem = key.pem;
    std::string selector = key.selector, domain = key.domain;
    DKIM_STAT status = DKIM_STAT_OK;
    dkim_canon_t hc =
        options.header_canon == Canon::relaxed ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
    dkim_canon_t bc = options.body_canon == Canon::relaxed ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
    dkim_alg_t alg = key.type == KeyType::ed25519 ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256;
    DKIM* d = dkim_sign(
        library.impl().lib, reinterpret_cast<const unsigned char*>("authguard-dkim"), nullptr,
        bytes(impl_->key_pem), bytes(selector), bytes(domain), hc, bc, alg, -1, &status);
    if (!d)
        throw EngineError("libopendkim cannot sign with " + key.path.string() + ": " +
                          status_text(nullptr, status));
    impl_->handle.reset(d);
    if (options.header_canon == Canon::simple) dkim_set_margin(d, 0);
}

Signer::~Signer() = default;

void Signer::header(std::string_view field) {
    std::string copy(field);
    DKIM_STAT s = dkim_header(impl_->handle.get(), bytes(copy), copy.size());
    if (s != DKIM_STAT_OK)
        throw EngineError("libopendkim: header: " + status_text(impl_->handle.get(), s));
}

void Signer::end_header() {
    DKIM_STAT s = dkim_eoh(impl_->handle.get());
    if (s != DKIM_STAT_OK)
        throw EngineError("libopendkim: end of header: " + status_text(impl_->handle.get(), s));
}

namespace {
DKIM_STAT feed_body(DKIM* d, std::string_view chunk) {
    // dkim_body only reads its buffer; its prototype lacks the const.
    return dkim_body(d, reinterpret_cast<u_char*>(const_cast<char*>(chunk.data())), chunk.size());
}
} // namespace

void Signer::body(std::string_view chunk) {
    if (chunk.empty()) return;
    impl_->body_end.saw(chunk);
    DKIM_STAT s = feed_body(impl_->handle.get(), chunk);
    if (s != DKIM_STAT_OK)
        throw EngineError("libopendkim: body: " + status_text(impl_->handle.get(), s));
}

std::string Signer::finish(LineEnd line_end) {
    DKIM* d = impl_->handle.get();
    if (impl_->body_end.needs_crlf()) body("\r\n");
    DKIM_STAT s = dkim_eom(d, nullptr);
    if (s != DKIM_STAT_OK) throw EngineError("libopendkim: end of message: " + status_text(d, s));
    unsigned char* value = nullptr;
    std::size_t len = 0;
    static constexpr char name[] = "DKIM-Signature";
    s = dkim_getsighdr_d(d, sizeof name + 1, &value, &len); // "DKIM-Signature: "
    if (s != DKIM_STAT_OK || !value)
        throw EngineError("libopendkim: no signature: " + status_text(d, s));
    std::string field =
        std::string(name) + ": " + with_line_ends({reinterpret_cast<char*>(value), len}, line_end);
    field += line_end == LineEnd::crlf ? "\r\n" : "\n";
    return field;
}

// ---- verifying ------------------------------------------------------------

struct Verifier::Impl {
    Handle handle;
    BodyEnd body_end;
    LookupContext context;
    bool no_signature = false;
    bool failed = false;
    std::string failure;
};

Verifier::Verifier(const Library& library) : impl_(std::make_unique<Impl>()) {
    DKIM_STAT status = DKIM_STAT_OK;
    DKIM* d =
        dkim_verify(library.impl().lib, reinterpret_cast<const unsigned char*>("authguard-dkim"),
                    nullptr, &status);
    if (!d) throw EngineError("libopendkim cannot verify: " + status_text(nullptr, status));
    impl_->handle.reset(d);
    impl_->context.lookup = &library.impl().lookup;
    dkim_set_user_context(d, &impl_->context);
}

Verifier::~Verifier() = default;

// A verifier never throws for what the message holds: a header the
// library refuses makes every signature a permerror at the end.
void Verifier::header(std::string_view field) {
    if (impl_->failed) return;
    std::string copy(field);
    DKIM_STAT s = dkim_header(impl_->handle.get(), bytes(copy), copy.size());
    if (s != DKIM_STAT_OK) {
        impl_->failed = true;
        impl_->failure = status_text(impl_->handle.get(), s);
    }
}

void Verifier::end_header() {
    if (impl_->failed) return;
    DKIM_STAT s = dkim_eoh(impl_->handle.get());
    if (s == DKIM_STAT_NOSIG) {
        impl_->no_signature = true;
    } else if (s != DKIM_STAT_OK) {
        // Signatures that do not parse are still listed at the end.
        impl_->failure = status_text(impl_->handle.get(), s);
    }
}

void Verifier::body(std::string_view chunk) {
    if (impl_->failed || impl_->no_signature || chunk.empty()) return;
    impl_->body_end.saw(chunk);
    DKIM_STAT s = feed_body(impl_->handle.get(), chunk);
    if (s != DKIM_STAT_OK && s != DKIM_STAT_NOSIG) {
        impl_->failed = true;
        impl_->failure = status_text(impl_->handle.get(), s);
    }
}

namespace {

// RFC 8601 §2.7.1's result for one signature libopendkim has looked at.
std::pair<std::string, std::string> result_of(DKIM_SIGINFO* sig) {
    unsigned int flags = dkim_sig_getflags(sig);
    int error = dkim_sig_geterror(sig);
    const char* error_text = dkim_sig_geterrorstr(error);
    std::string why = error_text ? error_text : "";
    if (DKIM_SIG_CHECK(sig)) return {"pass", ""};
    if ((flags & DKIM_SIGFLAG_PASSED) && dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH)
        return {"fail", "body hash mismatch"};
    switch (error) {
    case DKIM_SIGERROR_KEYFAIL:
        return {"temperror", why.empty() ? "key lookup failed" : why};
    case DKIM_SIGERROR_BADSIG:
    case DKIM_SIGERROR_EXPIRED:
    case DKIM_SIGERROR_FUTURE:
    case DKIM_SIGERROR_KEYREVOKED:
        return {"fail", why};
    case DKIM_SIGERROR_OK:
    case DKIM_SIGERROR_UNKNOWN:
        if (dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH) return {"fail", "body hash mismatch"};
        if (flags & DKIM_SIGFLAG_PROCESSED) return {"fail", "signature did not verify"};
        return {"permerror", why.empty() ? "not verified" : why};
    default:
        return {"permerror", why.empty() ? "bad signature" : why};
    }
}

} // namespace

Verification Verifier::finish() {
    Verification v;
    DKIM* d = impl_->handle.get();
    if (impl_->no_signature) return v;
    if (!impl_->failed && impl_->body_end.needs_crlf()) body("\r\n");
    if (!impl_->failed) dkim_eom(d, nullptr); // the per-signature results say everything
    DKIM_SIGINFO** sigs = nullptr;
    int count = 0;
    if (dkim_getsiglist(d, &sigs, &count) != DKIM_STAT_OK || !sigs) {
        if (impl_->failed || !impl_->failure.empty()) {
            SignatureResult r;
            r.result = "permerror";
            r.reason = impl_->failure;
            v.signatures.push_back(r);
        }
        return v;
    }
    for (int i = 0; i < count; ++i) {
        DKIM_SIGINFO* sig = sigs[i];
        SignatureResult r;
        if (const unsigned char* dom = dkim_sig_getdomain(sig))
            r.domain = lower(reinterpret_cast<const char*>(dom));
        if (const unsigned char* sel = dkim_sig_getselector(sig))
            r.selector = reinterpret_cast<const char*>(sel);
        dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
        if (dkim_sig_getsignalg(sig, &alg) == DKIM_STAT_OK)
            r.algorithm = alg == DKIM_SIGN_RSASHA256       ? "rsa-sha256"
                          : alg == DKIM_SIGN_RSASHA1       ? "rsa-sha1"
                          : alg == DKIM_SIGN_ED25519SHA256 ? "ed25519-sha256"
                                                           : "";
        char substring[16];
        std::size_t len = sizeof substring;
        if (dkim_get_sigsubstring(d, sig, substring, &len) == DKIM_STAT_OK)
            r.header_b.assign(substring, std::min<std::size_t>(len, 8));
        if (impl_->failed) {
            r.result = "permerror";
            r.reason = impl_->failure;
        } else {
            std::tie(r.result, r.reason) = result_of(sig);
            // A key lookup that got no answer (timeout, SERVFAIL) is a
            // temperror (RFC 6376 §6.1.2: TEMPFAIL), however libopendkim
            // files it.
            std::string name = lower(r.selector + "." + DKIM_DNSKEYNAME + "." + r.domain);
            const auto& unanswered = impl_->context.unanswered;
            if (r.result != "pass" &&
                std::find(unanswered.begin(), unanswered.end(), name) != unanswered.end()) {
                r.result = "temperror";
                r.reason = "key lookup failed: no DNS answer";
            }
        }
        v.signatures.push_back(std::move(r));
    }
    return v;
}

// ---- Authentication-Results -------------------------------------------

namespace {

// A value is written as is when it is an RFC 2045 token, else quoted.
std::string value_text(std::string_view s) {
    bool token = !s.empty();
    for (char c : s)
        if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 127 ||
            std::strchr("()<>@,;:\\\"/[]?=", c))
            token = false;
    if (token) return std::string(s);
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) >= ' ' && c != 127) out += c;
    }
    return out + "\"";
}

std::string comment_text(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '(' || c == ')' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) >= ' ' && c != 127) out += c;
    }
    return out;
}

} // namespace

std::string authentication_results(std::string_view authserv_id, const Verification& v,
                                   LineEnd line_end) {
    const std::string eol = line_end == LineEnd::crlf ? "\r\n" : "\n";
    std::string out = "Authentication-Results: " + std::string(authserv_id);
    if (v.signatures.empty()) return out + ";" + eol + "\tdkim=none" + eol;
    for (const SignatureResult& r : v.signatures) {
        out += ";" + eol + "\tdkim=" + r.result;
        if (!r.reason.empty() && r.result != "pass") out += " (" + comment_text(r.reason) + ")";
        if (!r.domain.empty()) out += " header.d=" + value_text(r.domain);
        if (!r.selector.empty()) out += " header.s=" + value_text(r.selector);
        if (!r.algorithm.empty()) out += " header.a=" + r.algorithm;
        if (!r.header_b.empty()) out += " header.b=" + value_text(r.header_b);
    }
    return out + eol;
}

} // namespace authguard::dkim
