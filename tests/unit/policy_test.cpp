// policy_test.cpp - the protocol layer of authguard-policyd: Postfix policy
// requests, the HTTP framing Dovecot's auth policy client uses, and
// Dovecot's request bodies as Debian 12's Dovecot 2.3 sends them
// (/work/shared/postfix-dovecot-interfaces.md).
#include "authguard/encoding.hpp"
#include "authguard/policy/dovecot.hpp"
#include "authguard/policy/http.hpp"
#include "authguard/policy/postfix.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace authguard::policy;
using authguard::base64_decode;

namespace {

// The request Postfix 3.7 sent at RCPT with AUTH (the shared doc).
const std::string postfix_rcpt =
    "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
    "client_address=198.51.100.7\nclient_name=unknown\nclient_port=33376\n"
    "reverse_client_name=unknown\nserver_address=127.0.0.1\nserver_port=12587\n"
    "helo_name=vm\nsender=hello@example.com\nrecipient=other@example.com\n"
    "recipient_count=0\nqueue_id=\ninstance=29cc.6b11939d.15df1.0\nsize=0\n"
    "etrn_domain=\nstress=\nsasl_method=PLAIN\nsasl_username=hello@example.com\n"
    "sasl_sender=\nccert_subject=\nccert_issuer=\nccert_fingerprint=\n"
    "ccert_pubkey_fingerprint=\nencryption_protocol=\nencryption_cipher=\n"
    "encryption_keysize=0\npolicy_context=\n\n";

// The bodies Dovecot 2.3.19 sent (the shared doc).
const std::string dovecot_allow_body =
    R"({"device_id":"","login":"hello@example.com","protocol":"imap","pwhash":"0b11",)"
    R"("remote":"203.0.113.9","session_id":"Qau28rxhbM3LAHEJ","tls":false})";
const std::string dovecot_report_body =
    R"({"device_id":"","login":"hello@example.com","protocol":"imap","pwhash":"0b11",)"
    R"("remote":"203.0.113.9","session_id":"Qau28rxhbM3LAHEJ","success":true,)"
    R"("policy_reject":false,"tls":false})";

std::string dovecot_post(const std::string& command, const std::string& body) {
    return "POST /?command=" + command +
           " HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: dovecot/auth-policy-client\r\n"
           "Authorization:  Basic aGVsbG86c2VjcmV0\r\nConnection: Keep-Alive\r\n"
           "Content-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Every request the bytes hold, fed whole or a byte at a time.
template <typename Reader, typename Limits>
auto read_all(const std::string& bytes, bool byte_at_a_time, Limits limits) {
    Reader reader(limits);
    std::vector<typename decltype(reader.next())::value_type> out;
    auto drain = [&] {
        while (auto request = reader.next())
            out.push_back(std::move(*request));
    };
    if (byte_at_a_time) {
        for (char c : bytes) {
            reader.feed(std::string_view(&c, 1));
            drain();
        }
    } else {
        reader.feed(bytes);
        drain();
    }
    return out;
}

std::vector<PostfixRequest> read_postfix(const std::string& bytes, bool byte_at_a_time,
                                         PostfixLimits limits = {}) {
    return read_all<PostfixReader>(bytes, byte_at_a_time, limits);
}

std::vector<HttpRequest> read_http(const std::string& bytes, bool byte_at_a_time,
                                   HttpLimits limits = {}) {
    return read_all<HttpReader>(bytes, byte_at_a_time, limits);
}

// The status of the HttpError the bytes give (0 for none), the same whether
// they come in one feed or a byte at a time.
int http_status(const std::string& bytes, HttpLimits limits = {}) {
    int statuses[2] = {0, 0};
    for (bool byte_at_a_time : {false, true}) {
        try {
            read_http(bytes, byte_at_a_time, limits);
        } catch (const HttpError& e) {
            statuses[byte_at_a_time] = e.status;
        }
    }
    CHECK(statuses[0] == statuses[1]);
    return statuses[0];
}

HttpRequest request_with(const std::string& target, const std::string& body) {
    HttpRequest request;
    request.method = "POST";
    request.set_target(target);
    request.version = "HTTP/1.1";
    request.body = body;
    return request;
}

} // namespace

TEST_CASE("policy: Postfix's RCPT request reads whole, a byte at a time, with CRLF") {
    for (bool byte_at_a_time : {false, true}) {
        auto requests = read_postfix(postfix_rcpt, byte_at_a_time);
        REQUIRE(requests.size() == 1);
        const auto& request = requests[0];
        CHECK(request.attributes.size() == 29);
        CHECK(request.attributes.front().first == "request");
        CHECK(request.get("sasl_username") == "hello@example.com");
        CHECK(request.get("instance") == "29cc.6b11939d.15df1.0");
        CHECK(request.get("queue_id") == "");
        CHECK(request.get("absent") == "");
    }
    std::string crlf;
    for (char c : postfix_rcpt)
        crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    auto requests = read_postfix(crlf, true);
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].attributes == read_postfix(postfix_rcpt, false)[0].attributes);
}

TEST_CASE("policy: Postfix requests pipelined in one feed come out one by one") {
    std::string three = "\n\nname=a\n\n" + postfix_rcpt + "x=1=2\r\nx=3\n\r\n";
    for (bool byte_at_a_time : {false, true}) {
        auto requests = read_postfix(three, byte_at_a_time);
        REQUIRE(requests.size() == 3);
        CHECK(requests[0].get("name") == "a");
        CHECK(requests[1].get("sasl_username") == "hello@example.com");
        CHECK(requests[2].get("x") == "1=2"); // split at the first '=', first occurrence
        CHECK(requests[2].attributes.size() == 2);
    }
    PostfixReader reader;
    reader.feed("a=1\nb=");
    CHECK(!reader.next());
    CHECK(reader.buffered() == 6); // a request begun: the peer closing now cut it
    reader.feed("2\n\n");
    CHECK(reader.next()->get("b") == "2");
    CHECK(reader.buffered() == 0);
}

TEST_CASE("policy: bad Postfix requests throw and leave the reader failed") {
    auto fails = [](const std::string& bytes, PostfixLimits limits = {}) {
        for (bool byte_at_a_time : {false, true}) {
            try {
                read_postfix(bytes, byte_at_a_time, limits);
                return false;
            } catch (const ProtocolError&) {
            }
        }
        return true;
    };
    CHECK(fails("name=a\nno equals sign\n\n"));
    CHECK(fails("=value\n\n"));
    CHECK(fails(std::string("name=a\0b\n\n", 10)));
    CHECK(fails(std::string(16385, 'x'))); // one line, never ended
    CHECK(fails("a=" + std::string(20000, 'x') + "\n\n"));
    CHECK(fails("a=1\nb=2\nc=3\n\n", {.max_request_bytes = 16384, .max_attributes = 2}));
    CHECK(!fails("a=1\nb=2\n\n", {.max_request_bytes = 16384, .max_attributes = 2}));
    // The limit counts the request's bytes, line ends and the empty line included.
    CHECK(!fails("a=12\n\n", {.max_request_bytes = 6, .max_attributes = 128}));
    CHECK(fails("a=123\n\n", {.max_request_bytes = 6, .max_attributes = 128}));
    // Many requests, each under the limit, are no request over it.
    std::string many;
    for (int i = 0; i < 100; ++i)
        many += "a=12\n\n";
    CHECK(read_postfix(many, false, {.max_request_bytes = 6, .max_attributes = 128}).size() == 100);

    PostfixReader reader;
    reader.feed("bad\n");
    CHECK_THROWS_AS(reader.next(), ProtocolError);
    reader.feed("a=1\n\n");
    CHECK_THROWS_AS(reader.next(), ProtocolError);
}

TEST_CASE("policy: the Postfix reply is one action line and an empty line") {
    CHECK(postfix_reply("DUNNO") == "action=DUNNO\n\n");
    CHECK(postfix_reply("REJECT 5.7.1 locked\r\naction=OK") ==
          "action=REJECT 5.7.1 locked  action=OK\n\n");
    CHECK(postfix_reply(std::string("a\0b", 3)) == "action=a b\n\n");
    CHECK(postfix_reply(std::string(600, 'x')).size() == 7 + 512 + 2);
}

TEST_CASE("policy: Dovecot's POSTs read whole and a byte at a time, pipelined") {
    std::string bytes = dovecot_post("allow", dovecot_allow_body) +
                        dovecot_post("allow", dovecot_allow_body) +
                        dovecot_post("report", dovecot_report_body);
    for (bool byte_at_a_time : {false, true}) {
        auto requests = read_http(bytes, byte_at_a_time);
        REQUIRE(requests.size() == 3);
        CHECK(requests[0].method == "POST");
        CHECK(requests[0].target == "/?command=allow");
        CHECK(requests[0].version == "HTTP/1.1");
        CHECK(requests[0].header("authorization") == "Basic aGVsbG86c2VjcmV0");
        CHECK(requests[0].header("content-type") == "application/json");
        CHECK(requests[0].header("missing") == "");
        CHECK(requests[0].keep_alive);
        CHECK(requests[0].body == dovecot_allow_body);
        CHECK(requests[2].query_parameter("command") == "report");
        CHECK(requests[2].body == dovecot_report_body);
    }
    // Bare LF line ends, and a stray CRLF between requests.
    std::string lf = "POST /?command=allow HTTP/1.1\nContent-Length: 2\n\n{}\r\n"
                     "GET /health HTTP/1.1\nHost: x\n\n";
    auto requests = read_http(lf, true);
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].body == "{}");
    CHECK(requests[1].method == "GET");
    CHECK(requests[1].body.empty());
    CHECK(requests[1].header("host") == "x");
}

TEST_CASE("policy: HTTP buffered() tells a request cut off by the peer") {
    HttpReader reader;
    reader.feed("POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n");
    CHECK(!reader.next());
    CHECK(reader.buffered() > 0); // header read, body awaited
    reader.feed("abcd");
    CHECK(reader.next()->body == "abcd");
    CHECK(!reader.next());
    CHECK(reader.buffered() == 0);
}

TEST_CASE("policy: HTTP keep-alive follows the version and the Connection header") {
    auto keep = [](const std::string& version, const std::string& connection) {
        std::string bytes = "GET / " + version + "\r\n" +
                            (connection.empty() ? "" : "Connection: " + connection + "\r\n") +
                            "\r\n";
        return read_http(bytes, false).at(0).keep_alive;
    };
    CHECK(keep("HTTP/1.1", ""));
    CHECK(keep("HTTP/1.1", "Keep-Alive"));
    CHECK(!keep("HTTP/1.1", "close"));
    CHECK(!keep("HTTP/1.1", "TE, Close"));
    CHECK(!keep("HTTP/1.0", ""));
    CHECK(keep("HTTP/1.0", "keep-alive"));
    CHECK(!keep("HTTP/1.0", "keep-alive, close"));
}

TEST_CASE("policy: every HTTP error status") {
    CHECK(http_status("POST / HTTP/1.1\r\n\r\n") == 411);
    CHECK(http_status("POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n") == 413);
    CHECK(http_status("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n") == 413);
    CHECK(http_status("POST / HTTP/1.1\r\nContent-Length: 65536\r\n\r\n") == 0); // awaits the body
    CHECK(http_status("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
                      {.max_header_bytes = 16384, .max_body_bytes = 4}) == 413);
    CHECK(http_status("GET / HTTP/1.1\r\nX: " + std::string(17000, 'a')) == 431);
    CHECK(http_status("GET / HTTP/1.1\r\nX: " + std::string(17000, 'a') + "\r\n\r\n") == 431);
    CHECK(http_status("GET / HTTP/1.1\r\n\r\n", {.max_header_bytes = 18, .max_body_bytes = 0}) ==
          0);
    CHECK(http_status("GET / HTTP/1.1\r\n\r\n", {.max_header_bytes = 17, .max_body_bytes = 0}) ==
          431);
    CHECK(http_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") == 501);
    CHECK(http_status(
              "POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n") == 501);
    CHECK(http_status("GET / HTTP/2.0\r\n\r\n") == 505);
    CHECK(http_status("GET / HTTP/0.9\r\n\r\n") == 505);
    CHECK(http_status("GET / HTTPS/1.1\r\n\r\n") == 400);
    CHECK(http_status("GET /\r\n\r\n") == 400);
    CHECK(http_status("GET  / HTTP/1.1\r\n\r\n") == 400);
    CHECK(http_status("GET / HTTP/1.1 x\r\n\r\n") == 400);
    CHECK(http_status("G(T / HTTP/1.1\r\n\r\n") == 400);
    CHECK(http_status("GET /\x7f HTTP/1.1\r\n\r\n") == 400);
    CHECK(http_status("GET / HTTP/1.1\r\nNo colon\r\n\r\n") == 400);
    CHECK(http_status("GET / HTTP/1.1\r\nName : v\r\n\r\n") == 400);
    CHECK(http_status("GET / HTTP/1.1\r\n: v\r\n\r\n") == 400);
    CHECK(http_status("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n") == 400);
    CHECK(http_status("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n") == 400);
    CHECK(http_status(std::string("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 26)) == 400);
    CHECK(http_status("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") == 400);
    CHECK(http_status("POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n") == 400);
    CHECK(http_status("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") == 400);
    CHECK(http_status("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx") == 0);

    HttpReader reader;
    reader.feed("GET / HTTP/3\r\n\r\n");
    CHECK_THROWS_AS(reader.next(), HttpError);
    reader.feed("GET / HTTP/1.1\r\n\r\n");
    try {
        reader.next();
        FAIL("a failed reader must keep failing");
    } catch (const HttpError& e) {
        CHECK(e.status == 400);
    }
}

TEST_CASE("policy: query parameters are split and decoded") {
    auto request =
        request_with("/policy?x=1&&command=allow&flag&sp=a+b%20c%2b&bad=%zz%4&%63md=x#f", "");
    CHECK(request.query_parameter("command") == "allow");
    CHECK(request.query_parameter("x") == "1");
    CHECK(request.query_parameter("flag") == "");
    CHECK(request.query_parameter("sp") == "a b c+");
    CHECK(request.query_parameter("bad") == "%zz%4");
    CHECK(request.query_parameter("cmd") == "x");
    CHECK(request.query_parameter("absent") == "");
    // A URL ending in '&' makes Dovecot append "command=..." without '?'.
    CHECK(request_with("/?key=v&command=report", "").query_parameter("command") == "report");
    CHECK(parse_query("/no-query").empty());
    CHECK(read_http("GET /?a=%41 HTTP/1.1\r\n\r\n", false).at(0).query_parameter("a") == "A");
}

TEST_CASE("policy: the HTTP response") {
    CHECK(http_response(200, "application/json", "{}", true) ==
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
          "Connection: keep-alive\r\n\r\n{}");
    CHECK(http_response(431, "", "", false) ==
          "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
          "Connection: close\r\n\r\n");
    for (int status : {400, 401, 411, 413, 501, 505})
        CHECK(http_reason(status) != "Unknown");
}

TEST_CASE("policy: Dovecot's allow and report bodies") {
    auto allow = parse_dovecot_request(request_with("/?command=allow", dovecot_allow_body));
    CHECK(allow.command == DovecotCommand::allow);
    CHECK(allow.login == "hello@example.com");
    CHECK(allow.remote == "203.0.113.9");
    CHECK(allow.protocol == "imap");
    CHECK(allow.pwhash == "0b11");
    CHECK(allow.session_id == "Qau28rxhbM3LAHEJ");
    CHECK(allow.device_id == "");
    CHECK(!allow.tls);
    CHECK(!allow.success);
    CHECK(!allow.policy_reject);

    auto report = parse_dovecot_request(request_with("/?command=report", dovecot_report_body));
    CHECK(report.command == DovecotCommand::report);
    CHECK(report.success == true);
    CHECK(report.policy_reject == false);

    // SMTP AUTH through Dovecot SASL: no session id; newer members ignored.
    auto smtp = parse_dovecot_request(request_with(
        "/?command=report",
        R"({"login":"u","protocol":"smtp","remote":"198.51.100.7","session_id":"",)"
        R"("success":false,"policy_reject":true,"tls":true,"fail_type":"policy","x":[1,{}]})"));
    CHECK(smtp.protocol == "smtp");
    CHECK(smtp.tls);
    CHECK(smtp.success == false);
    CHECK(smtp.policy_reject == true);
}

TEST_CASE("policy: bad Dovecot requests are ProtocolErrors") {
    auto fails = [](const std::string& target, const std::string& body) {
        CHECK_THROWS_AS(parse_dovecot_request(request_with(target, body)), ProtocolError);
    };
    fails("/?command=allow", "");
    fails("/?command=allow", "[1]");
    fails("/?command=allow", R"("login")");
    fails("/?command=allow", R"({"login":"u")");
    fails("/?command=allow", R"({"login":1})");
    fails("/?command=allow", R"({"remote":null})");
    fails("/?command=allow", R"({"tls":"yes"})");
    fails("/?command=report", R"({"login":"u","success":1})");
    fails("/?command=report", R"({"login":"u"})");
    fails("/?command=deny", "{}");
    fails("/", "{}");
    auto get = request_with("/?command=allow", "{}");
    get.method = "GET";
    CHECK_THROWS_AS(parse_dovecot_request(get), ProtocolError);
    CHECK_NOTHROW(parse_dovecot_request(request_with("/?command=allow", "{}")));
}

TEST_CASE("policy: the Dovecot answer") {
    CHECK(dovecot_answer(0, "") == R"({"status":0,"msg":""})");
    CHECK(dovecot_answer(-1, "locked \"now\"\n") ==
          R"({"status":-1,"msg":"locked \"now\"\u000a"})");
}

TEST_CASE("policy: Basic authentication of Dovecot's header") {
    // "hello:secret"
    CHECK(basic_auth_matches("Basic aGVsbG86c2VjcmV0", "hello:secret"));
    CHECK(basic_auth_matches("  basic   aGVsbG86c2VjcmV0  ", "hello:secret"));
    CHECK(!basic_auth_matches("Basic aGVsbG86c2VjcmV0", "hello:secreT"));
    CHECK(!basic_auth_matches("Basic aGVsbG86c2VjcmV0", "hello:secret2"));
    CHECK(!basic_auth_matches("Basic aGVsbG86c2VjcmV", "hello:secret"));   // cut off
    CHECK(!basic_auth_matches("Basic aGVsbG86c2Vj*mV0", "hello:secret"));  // not base64
    CHECK(!basic_auth_matches("Basic aGVsbG86c2VjcmV0=", "hello:secret")); // bad padding
    CHECK(!basic_auth_matches("Bearer aGVsbG86c2VjcmV0", "hello:secret"));
    CHECK(!basic_auth_matches("BasicaGVsbG86c2VjcmV0", "hello:secret"));
    CHECK(!basic_auth_matches("", "hello:secret"));
    CHECK(!basic_auth_matches("Basic", "hello:secret"));
    CHECK(basic_auth_matches("", "")); // no secret: no check
    CHECK(basic_auth_matches("Basic garbage!", ""));
    CHECK(basic_auth_matches("Basic dTpw", "u:p"));      // no padding needed
    CHECK(basic_auth_matches("Basic dTpwMQ==", "u:p1")); // with padding
    CHECK(basic_auth_matches("Basic dTpwMQ", "u:p1"));   // padding left out
    CHECK(base64_decode("") == std::string());
    CHECK(!base64_decode("a"));
    CHECK(!base64_decode("ab=c"));
    CHECK(!base64_decode("ab==="));
}

TEST_CASE("policy: pwhash as a number") {
    CHECK(pwhash_value("0b11") == 0x0b11);
    CHECK(pwhash_value("0B11") == 0x0b11);
    CHECK(pwhash_value("f") == 0xf);
    CHECK(pwhash_value("ffff") == 0xffff);
    CHECK(pwhash_value("123456789abcdef0") == 0xdef0);
    CHECK(!pwhash_value(""));
    CHECK(!pwhash_value("123456789abcdef01"));
    CHECK(!pwhash_value("0x11"));
    CHECK(!pwhash_value("0b1 "));
}
