// spf_record.cpp - libFuzzer harness: an SPF record as a domain publishes
// it (a TXT string, strangers' input), read by lib/spf/syntax.cpp the way
// the check reads it: is_spf_record(), record_error(), and for a record the
// grammar accepts, libspf2_form() (the rewrite done before libspf2 sees the
// record) for an IPv4 and an IPv6 client, then libspf2's own compiler on
// that rewrite, as layer_get_spf() does. Checked: a record the grammar
// accepts is still accepted after the rewrite (the rewrite only drops or
// splits terms); libspf2 compiles every rewrite the grammar accepts (the
// layer gives libspf2 nothing it refuses or crashes on), but for a term
// over libspf2's 255 characters and the macro delimiters "," and "/" that
// libspf2 does not know (known limits, doc/spf.md); the same text as
// local terms, as an explanation and as a domain goes through without an
// exception (none is documented).
#include "authguard/spf/syntax.hpp"

#include <arpa/nameser.h> // libspf2's headers need these first
#include <netinet/in.h>

extern "C" {
#include <spf2/spf.h>
}

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace spf = authguard::spf;

namespace {

struct ServerFree {
    void operator()(SPF_server_t* p) const { SPF_server_free(p); }
};
struct ResponseFree {
    void operator()(SPF_response_t* p) const { SPF_response_free(p); }
};
struct RecordFree {
    void operator()(SPF_record_t* p) const { SPF_record_free(p); }
};

// The same marker lib/spf/check.cpp gives libspf2_form().
constexpr std::string_view any_marker = ".any-address.authguard.invalid";

SPF_server_t* server() {
    // One server for the whole run (building one per input is what costs):
    // compiling a record reads only its configuration.
    static std::unique_ptr<SPF_server_t, ServerFree> s(SPF_server_new(SPF_DNS_ZONE, 0));
    return s.get();
}

void compile(const std::string& form) {
    SPF_response_t* raw_response = SPF_response_new(nullptr);
    std::unique_ptr<SPF_response_t, ResponseFree> response(raw_response);
    SPF_record_t* raw_record = nullptr;
    SPF_errcode_t err = SPF_record_compile(server(), response.get(), &raw_record, form.c_str());
    std::unique_ptr<SPF_record_t, RecordFree> record(raw_record);
    if (err != SPF_E_SUCCESS) {
        // libspf2 refuses a term whose text is longer than 255 characters
        // (its SPF_MAX_STR_LEN): a permerror, a known limit (doc/spf.md,
        // "Known limits"). Anything else refused would be the layer's
        // fault: a permerror for a record RFC 7208 accepts.
        std::size_t longest = 0;
        for (std::size_t i = 0, j; i < form.size(); i = j + 1) {
            j = form.find(' ', i);
            if (j == std::string::npos) j = form.size();
            longest = std::max(longest, j - i);
        }
        if (longest > 255) return;
        // libspf2 knows the macro delimiters . - + _ = but not , and /
        // (RFC 7208 7.1 has all seven): a known limit too.
        if (err == SPF_E_INVALID_DELIM) return;
        std::fprintf(stderr, "libspf2 refuses the rewrite '%s': %s\n", form.c_str(),
                     SPF_strerror(err));
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 4096) return -1; // a TXT record's strings joined: far below this
    std::string text(reinterpret_cast<const char*>(data), size);
    // The DNS layer turns a NUL into DEL before anything reads the text.
    for (char& c : text)
        if (c == '\0') c = '\x7f';

    (void)spf::valid_domain(text);
    (void)spf::explanation_error(text);
    (void)spf::terms_error(text);
    if (!spf::is_spf_record(text)) {
        if (!spf::record_error(text)) std::abort(); // not a record, yet accepted
        return 0;
    }
    if (spf::record_error(text)) return 0;
    for (bool v6 : {false, true}) {
        std::string form = spf::libspf2_form(text, v6, any_marker);
        if (auto e = spf::record_error(form)) {
            std::fprintf(stderr, "rewrite '%s' refused: %s\n", form.c_str(), e->c_str());
            std::abort();
        }
        compile(form);
    }
    return 0;
}
