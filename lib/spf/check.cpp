// spf/check.cpp - one SPF check: libspf2 evaluates the record; a DNS layer
// of ours sits between it and the chosen DNS source, fetches and checks
// each record itself (get_spf hook), counts lookups and void lookups, and
// stops the evaluation when a limit is passed. The time budget comes from
// running the check on a thread of its own (see Checker::start).
#include "authguard/spf/check.hpp"

#include "authguard/spf/syntax.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>

extern "C" {
#include <spf2/spf.h>
#include <spf2/spf_dns_resolv.h>
}

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

namespace authguard::spf {

std::string_view to_string(Result result) {
    switch (result) {
    case Result::none:
        return "none";
    case Result::neutral:
        return "neutral";
    case Result::pass:
        return "pass";
    case Result::fail:
        return "fail";
    case Result::softfail:
        return "softfail";
    case Result::temperror:
        return "temperror";
    case Result::permerror:
        return "permerror";
    }
    return "none";
}

namespace {

using Clock = std::chrono::steady_clock;

struct ServerFree {
    void operator()(SPF_server_t* p) const { SPF_server_free(p); }
};
struct RequestFree {
    void operator()(SPF_request_t* p) const { SPF_request_free(p); }
};
struct ResponseFree {
    void operator()(SPF_response_t* p) const { SPF_response_free(p); }
};
struct DnsFree {
    void operator()(SPF_dns_server_t* p) const { SPF_dns_free(p); }
};
struct RrFree {
    void operator()(SPF_dns_rr_t* p) const { SPF_dns_rr_free(p); }
};
using ServerPtr = std::unique_ptr<SPF_server_t, ServerFree>;
using RequestPtr = std::unique_ptr<SPF_request_t, RequestFree>;
using ResponsePtr = std::unique_ptr<SPF_response_t, ResponseFree>;
using DnsPtr = std::unique_ptr<SPF_dns_server_t, DnsFree>;
using RrPtr = std::unique_ptr<SPF_dns_rr_t, RrFree>;

bool iequals(std::string_view a, std::string_view b) {
    if (!a.empty() && a.back() == '.') a.remove_suffix(1);
    if (!b.empty() && b.back() == '.') b.remove_suffix(1);
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// Why a check was cut short by our layer rather than by libspf2.
enum class Stop { none, timeout, mechanisms, voids };

// Our DNS layer: libspf2 calls lookup() for every query and get_spf() for
// every record (the first, then each include and redirect). `server` is
// the SPF_dns_server_t that libspf2 sees; its hook points back here.
struct Layer {
    SPF_dns_server_t server{};
    const Lookup* lookup = nullptr; // the zone or function; null: `below`
    DnsPtr below;                   // libspf2's resolver
    std::optional<Clock::time_point> deadline;
    int max_mechanisms = 10;
    int max_voids = 2;

    // Per evaluation.
    int mechanisms = 0;
    int voids = 0;
    bool first_record = true;
    bool top_has_no_record = false;
    // The names an mx or ptr term's answer listed: the address lookups
    // libspf2 makes for them next belong to that term and count as part
    // of it, not as terms of their own (RFC 7208 §4.6.4).
    std::deque<std::string> pending;
    bool pending_any = false; // the pending names belong to an "any address" mx term
    Stop stop = Stop::none;
    std::string problem;
    bool client_v6 = false;
    std::string client_ip; // canonical text, for "any address" answers

    void reset() {
        mechanisms = voids = 0;
        first_record = true;
        top_has_no_record = false;
        pending.clear();
        pending_any = false;
        stop = Stop::none;
        problem.clear();
    }
};

Layer& layer_of(SPF_dns_server_t* s) {
    return *static_cast<Layer*>(s->hook);
}

SPF_dns_rr_t* tempfail_rr(SPF_dns_server_t* s, const char* domain, ns_type type) {
    return SPF_dns_rr_new_init(s, domain, type, 0, TRY_AGAIN);
}

std::optional<RrType> rr_type_of(ns_type type) {
    switch (type) {
    case ns_t_a:
        return RrType::a;
    case ns_t_aaaa:
        return RrType::aaaa;
    case ns_t_mx:
        return RrType::mx;
    case ns_t_txt:
        return RrType::txt;
    case ns_t_ptr:
        return RrType::ptr;
    default:
        return std::nullopt;
    }
}

// An Answer from a zone or function, in libspf2's form.
SPF_dns_rr_t* to_rr(SPF_dns_server_t* s, const char* domain, ns_type type, const Answer& answer) {
    int herrno = NETDB_SUCCESS;
    switch (answer.status) {
    case Answer::Status::found:
        herrno = NETDB_SUCCESS;
        break;
    case Answer::Status::nxdomain:
        herrno = HOST_NOT_FOUND;
        break;
    case Answer::Status::nodata:
        herrno = NO_DATA;
        break;
    case Answer::Status::tempfail:
        herrno = TRY_AGAIN;
        break;
    }
    SPF_dns_rr_t* rr = SPF_dns_rr_new_init(s, domain, type, 0, herrno);
    if (!rr || herrno != NETDB_SUCCESS) return rr;
    int n = 0;
    for (const std::string& data : answer.records) {
        if (type == ns_t_a || type == ns_t_aaaa) {
            unsigned char buf[16];
            int family = type == ns_t_a ? AF_INET : AF_INET6;
            if (inet_pton(family, data.c_str(), buf) != 1) continue;
            std::size_t size = type == ns_t_a ? sizeof(in_addr) : sizeof(in6_addr);
            if (SPF_dns_rr_buf_realloc(rr, n, size) != SPF_E_SUCCESS) break;
            std::memcpy(rr->rr[n], buf, size);
        } else {
            if (SPF_dns_rr_buf_realloc(rr, n, data.size() + 1) != SPF_E_SUCCESS) break;
            std::memcpy(rr->rr[n]->txt, data.c_str(), data.size() + 1);
            // libspf2 reads C strings: a NUL inside the data must not cut
            // it short into something valid. DEL is refused by the grammar.
            for (std::size_t i = 0; i < data.size(); ++i)
                if (rr->rr[n]->txt[i] == '\0') rr->rr[n]->txt[i] = '\x7f';
        }
        ++n;
    }
    rr->num_rr = n;
    if (n == 0) rr->herrno = NO_DATA;
    return rr;
}

// A query to the source, without counting.
SPF_dns_rr_t* fetch(Layer& layer, const char* domain, ns_type type) {
    if (layer.deadline && Clock::now() >= *layer.deadline) {
        layer.stop = Stop::timeout;
        return tempfail_rr(&layer.server, domain, type);
    }
    if (!layer.lookup) return SPF_dns_lookup(layer.below.get(), domain, type, 1);
    auto rr_type = rr_type_of(type);
    // Type SPF (99) is gone from RFC 7208: no record of that type exists.
    if (!rr_type) return SPF_dns_rr_new_init(&layer.server, domain, type, 0, NO_DATA);
    return to_rr(&layer.server, domain, type, (*layer.lookup)(domain, *rr_type));
}

// The suffix libspf2_form() puts on an a or mx term whose prefix length
// is 0: such a term matches when its name has any address at all.
constexpr std::string_view any_marker = ".any-address.authguard.invalid";

bool ends_with_ci(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

// RFC 7208 §7.3: a name over 253 characters loses labels on the left; a
// name with an empty label or a label over 63 characters cannot be asked
// for and matches nothing (the suite's "invalid-domain" cases).
std::optional<std::string> query_name(std::string_view name) {
    while (name.size() > 253) {
        std::size_t dot = name.find('.');
        if (dot == std::string_view::npos) return std::nullopt;
        name.remove_prefix(dot + 1);
    }
    std::string_view t = name;
    if (!t.empty() && t.back() == '.') t.remove_suffix(1);
    std::size_t i = 0;
    while (i <= t.size()) {
        std::size_t j = t.find('.', i);
        if (j == std::string_view::npos) j = t.size();
        if (j == i || j - i > 63) return std::nullopt;
        i = j + 1;
    }
    return std::string(name);
}

SPF_dns_rr_t* layer_lookup(SPF_dns_server_t* s, const char* raw_domain, ns_type type, int) {
    Layer& layer = layer_of(s);
    std::string marked = raw_domain;
    bool any = ends_with_ci(marked, any_marker);
    if (any) marked.resize(marked.size() - any_marker.size());
    auto name = query_name(marked);
    const char* domain = name ? name->c_str() : marked.c_str();
    if (type == ns_t_txt) {
        // Only explanations come this way (records go through get_spf):
        // one TXT record whose text is valid (RFC 7208 §6.2), else none.
        if (!name) return SPF_dns_rr_new_init(s, domain, type, 0, HOST_NOT_FOUND);
        SPF_dns_rr_t* rr = fetch(layer, domain, type);
        if (!rr || rr->herrno != NETDB_SUCCESS) return rr;
        if (rr->num_rr != 1 || explanation_error(rr->rr[0]->txt)) {
            rr->herrno = NO_DATA;
            rr->num_rr = 0;
            return rr;
        }
        // libspf2 garbles literal spaces in explanations; "%_" is a space.
        std::string text;
        for (const char* p = rr->rr[0]->txt; *p; ++p)
            text += *p == ' ' ? std::string("%_") : std::string(1, *p);
        if (SPF_dns_rr_buf_realloc(rr, 0, text.size() + 1) == SPF_E_SUCCESS)
            std::memcpy(rr->rr[0]->txt, text.c_str(), text.size() + 1);
        return rr;
    }
    // Once stopped, every query fails so that libspf2 unwinds at once.
    if (layer.stop != Stop::none) return tempfail_rr(s, domain, type);
    bool address = type == ns_t_a || type == ns_t_aaaa;
    bool part_of_term = address && !layer.pending.empty() && iequals(layer.pending.front(), domain);
    if (part_of_term)
        layer.pending.pop_front();
    else if (type != ns_t_txt)
        layer.pending.clear();
    bool counts = !part_of_term && (address || type == ns_t_mx || type == ns_t_ptr);
    if (counts && ++layer.mechanisms > layer.max_mechanisms) {
        layer.stop = Stop::mechanisms;
        layer.problem = "more than " + std::to_string(layer.max_mechanisms) +
                        " DNS-querying terms (RFC 7208 4.6.4)";
        return tempfail_rr(s, domain, type);
    }
    SPF_dns_rr_t* rr =
        name ? fetch(layer, domain, type) : SPF_dns_rr_new_init(s, domain, type, 0, HOST_NOT_FOUND);
    if (!rr) return rr;
    // RFC 7208 §4.6.4: only the first 10 PTR names are used (libspf2
    // would make more a permerror).
    if (type == ns_t_ptr && rr->num_rr > 10) rr->num_rr = 10;
    if ((type == ns_t_mx || type == ns_t_ptr) && rr->herrno == NETDB_SUCCESS) {
        for (int i = 0; i < rr->num_rr && i < 10; ++i)
            layer.pending.emplace_back(type == ns_t_mx ? rr->rr[i]->mx : rr->rr[i]->ptr);
        layer.pending_any = any && type == ns_t_mx;
    }
    if (address && (any || (part_of_term && layer.pending_any)) && rr->herrno == NETDB_SUCCESS &&
        rr->num_rr > 0) {
        // A /0 term: whatever the address, it covers the client's.
        unsigned char buf[16];
        inet_pton(layer.client_v6 ? AF_INET6 : AF_INET, layer.client_ip.c_str(), buf);
        bool family_ok = (type == ns_t_aaaa) == layer.client_v6;
        for (int i = 0; family_ok && i < rr->num_rr; ++i)
            std::memcpy(rr->rr[i], buf, layer.client_v6 ? 16 : 4);
    }
    bool is_void = rr->herrno == HOST_NOT_FOUND || rr->herrno == NO_DATA ||
                   (rr->herrno == NETDB_SUCCESS && rr->num_rr == 0);
    // A name that cannot be asked for (an empty or long label) matches
    // nothing, but no DNS query returned "no answer": not a void lookup.
    if (counts && is_void && name && ++layer.voids > layer.max_voids) {
        layer.stop = Stop::voids;
        layer.problem =
            "more than " + std::to_string(layer.max_voids) + " void DNS lookups (RFC 7208 4.6.4)";
        SPF_dns_rr_free(rr);
        return tempfail_rr(s, domain, type);
    }
    return rr;
}

// Replaces libspf2's SPF_server_get_record: TXT only (RFC 7208 §3.1), the
// record selected as §4.5 says, and its syntax checked in full (§4.6)
// before libspf2 compiles it.
SPF_errcode_t layer_get_spf(SPF_server_t* server, SPF_request_t* request, SPF_response_t* response,
                            SPF_record_t** recordp) {
    Layer& layer = layer_of(server->resolver);
    const char* domain = request->cur_dom;
    *recordp = nullptr;
    bool top = layer.first_record;
    layer.first_record = false;
    layer.pending.clear();
    if (layer.stop != Stop::none)
        return SPF_response_add_error(response, SPF_E_DNS_ERROR, "stopped");
    if (!top && ++layer.mechanisms > layer.max_mechanisms) {
        layer.stop = Stop::mechanisms;
        layer.problem = "more than " + std::to_string(layer.max_mechanisms) +
                        " DNS-querying terms (RFC 7208 4.6.4)";
        return SPF_response_add_error(response, SPF_E_DNS_ERROR, "too many lookups");
    }
    RrPtr rr(fetch(layer, domain, ns_t_txt));
    if (!rr) return SPF_E_NO_MEMORY;
    if (rr->herrno == TRY_AGAIN ||
        (rr->herrno != NETDB_SUCCESS && rr->herrno != NO_DATA && rr->herrno != HOST_NOT_FOUND)) {
        if (layer.problem.empty())
            layer.problem = std::string("DNS error looking up the record of ") + domain;
        return SPF_response_add_error(response, SPF_E_DNS_ERROR, "DNS error for '%s'", domain);
    }
    const char* found = nullptr;
    int count = 0;
    for (int i = 0; rr->herrno == NETDB_SUCCESS && i < rr->num_rr; ++i)
        if (is_spf_record(rr->rr[i]->txt)) {
            found = rr->rr[i]->txt;
            ++count;
        }
    if (count == 0) {
        if (top)
            layer.top_has_no_record = true;
        else
            layer.problem = std::string("no SPF record at ") + domain;
        return SPF_response_add_error(response, SPF_E_NOT_SPF, "no SPF record for '%s'", domain);
    }
    if (count > 1) {
        layer.problem = std::string("more than one SPF record at ") + domain;
        return SPF_response_add_error(response, SPF_E_MULTIPLE_RECORDS,
                                      "multiple SPF records for '%s'", domain);
    }
    if (auto error = record_error(found)) {
        layer.problem = std::string("bad SPF record at ") + domain + ": " + *error;
        return SPF_response_add_error(response, SPF_E_SYNTAX, "syntax error for '%s'", domain);
    }
    std::string form = libspf2_form(found, layer.client_v6, any_marker);
    SPF_errcode_t err = SPF_record_compile(server, response, recordp, form.c_str());
    if (err != SPF_E_SUCCESS) {
        layer.problem = std::string("libspf2 cannot compile the record at ") + domain;
        return err;
    }
    return SPF_E_SUCCESS;
}

Result result_of(SPF_result_t r) {
    switch (r) {
    case SPF_RESULT_PASS:
        return Result::pass;
    case SPF_RESULT_FAIL:
        return Result::fail;
    case SPF_RESULT_SOFTFAIL:
        return Result::softfail;
    case SPF_RESULT_NEUTRAL:
        return Result::neutral;
    case SPF_RESULT_NONE:
        return Result::none;
    case SPF_RESULT_TEMPERROR:
        return Result::temperror;
    case SPF_RESULT_PERMERROR:
        return Result::permerror;
    default:
        return Result::permerror;
    }
}

std::string explanation_template(std::string text) {
    // qmail-spf-rc5's %{xR} (the receiving host) is RFC 7208's %{r}.
    for (std::size_t at; (at = text.find("%{xR}")) != std::string::npos;)
        text.replace(at, 5, "%{r}");
    // libspf2 garbles literal spaces in a macro string; "%_" is a space.
    for (std::size_t at = 0; (at = text.find(' ', at)) != std::string::npos; at += 2)
        text.replace(at, 1, "%_");
    return text;
}

// A libspf2 server over our layer, configured from the options.
struct Session {
    Layer layer;
    ServerPtr server;

    Session(const Dns& dns, const Options& options) {
        layer.server.lookup = layer_lookup;
        layer.server.get_spf = layer_get_spf;
        layer.server.name = "authguard";
        layer.server.hook = &layer;
        // destroy stays null: the layer belongs to us, not to the server.
        if (dns.is_resolver()) {
            layer.below.reset(SPF_dns_resolv_new(nullptr, "resolv", 0));
            if (!layer.below) throw Error("libspf2: cannot create the DNS resolver");
        } else {
            layer.lookup = &dns.lookup();
        }
        layer.max_mechanisms = options.max_dns_mechanisms;
        layer.max_voids = options.max_void_lookups;
        server.reset(SPF_server_new_dns(&layer.server, 0));
        if (!server) throw Error("libspf2: cannot create a server");
        // Our layer counts terms across includes; libspf2's own count
        // restarts in each include and checks one term late.
        SPF_server_set_max_dns_mech(server.get(), 1000);
        SPF_server_set_rec_dom(server.get(), options.receiver.c_str());
        SPF_response_t* raw = nullptr;
        SPF_errcode_t err = SPF_server_set_explanation(
            server.get(), explanation_template(options.explanation).c_str(), &raw);
        ResponsePtr holder(raw);
        if (err != SPF_E_SUCCESS)
            throw Error("spfexp: not a valid explanation: '" + options.explanation + "'");
        if (!options.local_rules.empty()) {
            if (auto e = terms_error(options.local_rules)) throw Error("spfrules: " + *e);
            raw = nullptr;
            err = SPF_server_set_localpolicy(server.get(), options.local_rules.c_str(), 0, &raw);
            holder.reset(raw);
            if (err != SPF_E_SUCCESS)
                throw Error("spfrules: libspf2 cannot compile '" + options.local_rules + "'");
        }
        if (!options.guess.empty())
            if (auto e = terms_error(options.guess)) throw Error("spfguess: " + *e);
    }
};

std::string domain_of(const std::string& address) {
    std::size_t at = address.rfind('@');
    return at == std::string::npos ? address : address.substr(at + 1);
}

// ---- the time budget --------------------------------------------------
//
// libspf2 has no deadline: SPF_dns_resolv blocks in res_query for as long
// as the resolver's timeout and retries say (5 s x 2 tries x each server in
// resolv.conf), per lookup, and a check may make 20 and more lookups. A
// deadline checked between lookups (our layer does that too) cannot cut a
// lookup short, and res_init's timeout is per query, whole seconds, and
// process-wide. So the check runs on a thread of its own and the caller
// waits for it until the deadline; a late check is abandoned (detached: it
// owns a copy of everything it reads and ends when its resolver gives up,
// making no new lookup after the deadline). A thread rather than a child
// process: on this project's test machine a fork of the plugin cost 3 ms
// of page faults per check, three times the whole budget the plugin may
// add to a [mail] command (bench/RESULTS.md, section 8).

} // namespace

Checker::Checker(Dns dns, Options options) : dns_(std::move(dns)), options_(std::move(options)) {
    if (options_.timeout.count() < 0) throw Error("spf-timeout: negative");
    Session check_config(dns_, options_); // throws on bad spfrules, spfguess, spfexp
}

// What the caller and the check's thread share; the thread may outlive
// the caller's interest (a late check), so both hold it.
struct RunningCheck::State {
    std::mutex lock;
    std::condition_variable done;
    std::optional<Verdict> verdict;
    std::exception_ptr failure;
    bool finished = false;
};

RunningCheck::RunningCheck(Verdict verdict) : verdict_(std::move(verdict)) {}

RunningCheck::RunningCheck(std::shared_ptr<State> state, Clock::time_point deadline,
                           Verdict if_late)
    : state_(std::move(state)), deadline_(deadline), verdict_(std::move(if_late)) {}

RunningCheck::RunningCheck(RunningCheck&&) noexcept = default;
RunningCheck& RunningCheck::operator=(RunningCheck&&) noexcept = default;
RunningCheck::~RunningCheck() = default;

Verdict RunningCheck::wait() {
    if (!state_) return verdict_;
    std::unique_lock guard(state_->lock);
    if (!state_->done.wait_until(guard, deadline_, [&] { return state_->finished; }))
        return verdict_; // late: the temperror made at the start
    if (state_->failure) std::rethrow_exception(state_->failure);
    return std::move(*state_->verdict);
}

RunningCheck Checker::start(const Request& request) const {
    if (options_.timeout.count() == 0) return RunningCheck(evaluate(request));
    auto deadline = Clock::now() + options_.timeout;
    Verdict late;
    late.result = Result::temperror;
    late.problem =
        "no answer within the time budget of " + std::to_string(options_.timeout.count()) + " ms";
    late.client_ip = request.client_ip;
    late.envelope_from = request.sender;
    late.helo = request.helo;
    late.receiver = options_.receiver;
    late.identity = request.sender.empty() ? "helo" : "mailfrom";
    late.domain = request.sender.empty() ? request.helo : domain_of(request.sender);

    auto state = std::make_shared<RunningCheck::State>();
    try {
        // The thread may outlive this call and this Checker: it gets copies.
        std::thread([state, checker = *this, request] {
            std::optional<Verdict> v;
            std::exception_ptr failure;
            try {
                v = checker.evaluate(request);
            } catch (...) {
                failure = std::current_exception();
            }
            std::lock_guard guard(state->lock);
            state->verdict = std::move(v);
            state->failure = failure;
            state->finished = true;
            state->done.notify_all();
        }).detach();
    } catch (const std::system_error& e) {
        throw Error(std::string("cannot start the check: ") + e.what());
    }
    return RunningCheck(std::move(state), deadline, std::move(late));
}

Verdict Checker::check(const Request& request) const {
    return start(request).wait();
}

Verdict Checker::evaluate(const Request& request) const {
    Verdict v;
    v.envelope_from = request.sender;
    v.helo = request.helo;
    v.receiver = options_.receiver;
    // RFC 7208 §2.3: the null sender is checked as postmaster@HELO.
    bool null_sender = request.sender.empty();
    v.identity = null_sender ? "helo" : "mailfrom";
    std::string sender = null_sender ? "postmaster@" + request.helo : request.sender;
    if (sender.front() == '@')
        sender = "postmaster" + sender; // §4.3: no local part
    else if (sender.find('@') == std::string::npos)
        sender = "postmaster@" + sender;
    v.domain = domain_of(sender);

    unsigned char address[16];
    int family = 0;
    if (inet_pton(AF_INET, request.client_ip.c_str(), address) == 1)
        family = AF_INET;
    else if (inet_pton(AF_INET6, request.client_ip.c_str(), address) == 1) {
        family = AF_INET6;
        if (IN6_IS_ADDR_V4MAPPED(reinterpret_cast<in6_addr*>(address))) {
            std::memmove(address, address + 12, 4);
            family = AF_INET;
        }
    }
    if (family == 0) {
        v.client_ip = request.client_ip;
        v.result = Result::permerror;
        v.problem = "no valid client address";
        return v;
    }
    char text[INET6_ADDRSTRLEN];
    inet_ntop(family, address, text, sizeof text);
    v.client_ip = text;

    // RFC 7208 §4.3: a malformed or single-label domain gives "none".
    if (!valid_domain(v.domain)) {
        v.result = Result::none;
        v.problem = "'" + v.domain + "' is not a domain name that can publish SPF";
        return v;
    }

    Session session(dns_, options_);
    if (options_.timeout.count() > 0) session.layer.deadline = Clock::now() + options_.timeout;
    session.layer.client_v6 = family == AF_INET6;
    session.layer.client_ip = v.client_ip;
    RequestPtr req(SPF_request_new(session.server.get()));
    if (!req) throw Error("libspf2: out of memory");
    if (family == AF_INET) {
        in_addr a;
        std::memcpy(&a, address, sizeof a);
        SPF_request_set_ipv4(req.get(), a);
    } else {
        in6_addr a;
        std::memcpy(&a, address, sizeof a);
        SPF_request_set_ipv6(req.get(), a);
    }
    if (!request.helo.empty()) SPF_request_set_helo_dom(req.get(), request.helo.c_str());
    if (SPF_request_set_env_from(req.get(), sender.c_str()) != 0) {
        v.result = Result::none;
        v.problem = "libspf2 cannot parse the sender";
        return v;
    }
    req->use_local_policy = options_.local_rules.empty() ? 0 : 1;

    auto run = [&](const char* fallback) -> std::pair<ResponsePtr, SPF_errcode_t> {
        session.layer.reset();
        SPF_response_t* raw = nullptr;
        SPF_errcode_t err = fallback ? SPF_request_query_fallback(req.get(), &raw, fallback)
                                     : SPF_request_query_mailfrom(req.get(), &raw);
        return {ResponsePtr(raw), err};
    };
    auto settle = [&](SPF_response_t* response, SPF_errcode_t err) {
        Layer& layer = session.layer;
        SPF_result_t r = response ? SPF_response_result(response) : SPF_RESULT_INVALID;
        if (layer.stop == Stop::timeout) {
            v.result = Result::temperror;
            v.problem = "no answer within the time budget of " +
                        std::to_string(options_.timeout.count()) + " ms";
        } else if (layer.stop != Stop::none) {
            v.result = Result::permerror;
            v.problem = layer.problem;
        } else if (r != SPF_RESULT_INVALID) {
            v.result = result_of(r);
        } else if (err == SPF_E_NOT_SPF && layer.top_has_no_record) {
            v.result = Result::none;
        } else if (err == SPF_E_DNS_ERROR) {
            v.result = Result::temperror;
        } else {
            v.result = Result::permerror;
        }
        if (v.result == Result::temperror && v.problem.empty())
            v.problem = layer.problem.empty() ? "DNS error" : layer.problem;
        if (v.result == Result::permerror && v.problem.empty())
            v.problem = !layer.problem.empty() ? layer.problem
                        : err != SPF_E_SUCCESS ? SPF_strerror(err)
                                               : "bad SPF record";
        if (response && v.result != Result::permerror && v.result != Result::temperror)
            v.problem.clear();
        if (response) {
            switch (SPF_response_reason(response)) {
            case SPF_REASON_DEFAULT:
                v.mechanism = "default";
                break;
            case SPF_REASON_LOCAL_POLICY:
                v.mechanism = "local rules";
                break;
            case SPF_REASON_LOCALHOST:
                v.mechanism = "localhost";
                break;
            default:
                v.mechanism.clear();
            }
            if (v.result == Result::fail && SPF_response_get_explanation(response))
                v.explanation = SPF_response_get_explanation(response);
        }
    };

    auto [response, err] = run(nullptr);
    settle(response.get(), err);
    bool no_record = v.result == Result::none && session.layer.top_has_no_record;
    if (no_record && (!options_.guess.empty() || !options_.local_rules.empty())) {
        // qmail-spf-rc5: a domain without a record is judged by spfguess,
        // then spfrules; if nothing there matches, or the guess cannot be
        // evaluated, the result stays "none".
        std::string record = "v=spf1 " + options_.guess + " " + options_.local_rules;
        auto [guessed, gerr] = run(record.c_str());
        Verdict before = v;
        settle(guessed.get(), gerr);
        if (v.mechanism == "default" || v.result == Result::temperror ||
            v.result == Result::permerror || v.result == Result::none) {
            v = before;
        } else {
            v.mechanism = "guess";
        }
    }
    return v;
}

// ---- Received-SPF (RFC 7208 §9.1) --------------------------------------

namespace {

bool is_atext(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool is_dot_atom(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '.') {
            if (s[i + 1] == '.') return false;
        } else if (!is_atext(s[i])) {
            return false;
        }
    }
    return true;
}

// Printable ASCII only: a header carries no control or 8-bit bytes.
std::string printable(std::string_view s) {
    std::string out;
    for (char c : s) {
        unsigned char u = static_cast<unsigned char>(c);
        out += (u >= 0x20 && u < 0x7f) ? c : '?';
    }
    return out;
}

std::string value(std::string_view s) {
    std::string p = printable(s);
    if (is_dot_atom(p)) return p;
    std::string out = "\"";
    for (char c : p) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string comment_text(std::string_view s) {
    std::string out;
    for (char c : printable(s)) {
        if (c == '(' || c == ')' || c == '\\' || c == '"') out += '\\';
        out += c;
    }
    return out;
}

std::string sentence(const Verdict& v) {
    std::string who = "domain of " + (v.identity == "helo" ? v.domain : v.envelope_from);
    switch (v.result) {
    case Result::pass:
        return who + " designates " + v.client_ip + " as permitted sender";
    case Result::fail:
        return who + " does not designate " + v.client_ip + " as permitted sender";
    case Result::softfail:
        return "domain of transitioning " + (v.identity == "helo" ? v.domain : v.envelope_from) +
               " does not designate " + v.client_ip + " as permitted sender";
    case Result::neutral:
        return v.client_ip + " is neither permitted nor denied by " + who;
    case Result::none:
        return who + " does not designate permitted sender hosts";
    case Result::temperror:
        return "error in processing during lookup of " + v.domain;
    case Result::permerror:
        return who + " uses a malformed SPF record";
    }
    return {};
}

} // namespace

std::string received_spf_value(const Verdict& v) {
    std::string comment = v.receiver + ": " + sentence(v);
    if (!v.problem.empty()) comment += ": " + v.problem;
    std::string out = std::string(to_string(v.result)) + " (" + comment_text(comment) + ")";
    out += " client-ip=" + value(v.client_ip) + ";";
    out += " envelope-from=" + value(v.envelope_from) + ";";
    out += " helo=" + value(v.helo) + ";";
    if (!v.problem.empty()) out += " problem=" + value(v.problem) + ";";
    out += " receiver=" + value(v.receiver) + ";";
    out += " identity=" + value(v.identity) + ";";
    if (!v.mechanism.empty()) out += " mechanism=" + value(v.mechanism) + ";";
    return out;
}

std::string received_spf_header(const Verdict& v) {
    // Fold at spaces outside quoted strings (a fold inside one would add a
    // space to the value), before column 78 where a word allows.
    std::string text = "Received-SPF: " + received_spf_value(v);
    std::vector<std::string> words;
    std::string word;
    bool quoted = false, escaped = false;
    for (char c : text) {
        if (escaped)
            escaped = false;
        else if (c == '\\')
            escaped = true;
        else if (c == '"')
            quoted = !quoted;
        if (c == ' ' && !quoted) {
            words.push_back(word);
            word.clear();
        } else {
            word += c;
        }
    }
    words.push_back(word);
    std::string out;
    std::size_t column = 0;
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (i == 0) {
            out = words[i];
            column = out.size();
        } else if (column + 1 + words[i].size() > 78) {
            out += "\n\t" + words[i];
            column = 8 + words[i].size();
        } else {
            out += " " + words[i];
            column += 1 + words[i].size();
        }
    }
    return out;
}

} // namespace authguard::spf
