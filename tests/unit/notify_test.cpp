// notify_test.cpp - what a notification says: times for people (UTC and the
// server's local time, never bare unix seconds), and a manual lock in its
// own words (no "password has probably leaked", no "manual" network).
#include "authguard/config.hpp"
#include "authguard/notify.hpp"

#include <doctest/doctest.h>

#include <stdlib.h>
#include <time.h>

#include <optional>
#include <string>

using namespace authguard;

namespace {

constexpr std::int64_t t0 = 1764791889; // 2025-12-03 19:58:09 UTC

// Sets TZ for one test and puts the old value back.
class ScopedTz {
  public:
    explicit ScopedTz(const char* tz) {
        if (const char* old = ::getenv("TZ")) old_ = old;
        ::setenv("TZ", tz, 1);
        ::tzset();
    }
    ~ScopedTz() {
        if (old_)
            ::setenv("TZ", old_->c_str(), 1);
        else
            ::unsetenv("TZ");
        ::tzset();
    }
    ScopedTz(const ScopedTz&) = delete;
    ScopedTz& operator=(const ScopedTz&) = delete;

  private:
    std::optional<std::string> old_;
};

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("notification times in unix seconds: now UTC and the server's local time") {
    {
        ScopedTz tz("Asia/Tokyo");
        CHECK(time_for_people(t0) == "2025-12-03 19:58:09 UTC (2025-12-04 04:58:09 JST)");
        Config c;
        std::string lock = lock_message(c, "alice@example.com", "6 new networks",
                                        "10.1.0.0/16@1764790000[10.1.0.5]", t0);
        CHECK(has(lock, "locked the account alice@example.com at 2025-12-03 19:58:09 UTC "
                        "(2025-12-04 04:58:09 JST)."));
        // the evidence keeps the detector's text for scripts, and says when
        CHECK(has(lock, "\n  10.1.0.0/16@1764790000[10.1.0.5]\n    first seen 2025-12-03 19:26:40 "
                        "UTC (2025-12-04 04:26:40 JST)\n"));
        std::string alert = alert_message(c, "alice@example.com", "40 addresses", "", t0);
        CHECK(has(alert, "at 2025-12-03 19:58:09 UTC (2025-12-04 04:58:09 JST)."));
        CHECK(!has(alert, std::to_string(t0)));
    }
    {
        ScopedTz tz("UTC");
        CHECK(time_for_people(t0) == "2025-12-03 19:58:09 UTC");
    }
    {
        ScopedTz tz("America/New_York");
        CHECK(time_for_people(t0) == "2025-12-03 19:58:09 UTC (2025-12-03 14:58:09 EST)");
    }
}

TEST_CASE("manual lock notification said the password leaked and listed manual as a network") {
    ScopedTz tz("Asia/Tokyo");
    std::string text = manual_lock_message("dave@example.com", "phone stolen", "root", t0, 0);
    CHECK(has(text, "The administrator root locked the account dave@example.com by hand "
                    "(manual lock, authguardctl lock) at 2025-12-03 19:58:09 UTC "
                    "(2025-12-04 04:58:09 JST)."));
    CHECK(has(text, "\nReason: phone stolen\n"));
    CHECK(has(text, "The lock lasts until it is removed."));
    CHECK(has(text, "authguardctl unlock dave@example.com"));
    CHECK(!has(text, "leaked"));
    CHECK(!has(text, "New networks"));
    CHECK(!has(text, "  manual\n"));

    std::string timed =
        manual_lock_message("dave@example.com", "phone stolen", "root", t0, t0 + 3600);
    CHECK(has(timed, "The lock ends at 2025-12-03 20:58:09 UTC (2025-12-04 05:58:09 JST)."));

    // lock_message given a manual lock's evidence says the same, not the
    // automatic text; an automatic lock still points at a leaked password.
    Config c;
    std::string via_lock = lock_message(c, "dave@example.com", "phone stolen", "manual", t0);
    CHECK(has(via_lock, "by hand"));
    CHECK(!has(via_lock, "leaked"));
    CHECK(!has(via_lock, "  manual\n"));
    CHECK(has(lock_message(c, "eve@example.com", "6 new networks", "10.1.0.0/16@1[10.1.0.5]", t0),
              "The password has probably leaked."));
}

// Session 14: a mail-program that did not exist failed in the detached
// child, after the hook had been told all was well: no "cannot start".
TEST_CASE("a notification program that cannot be started is reported, one that can is not") {
    Config c;
    c.notify_mail = "postmaster@example.com";
    c.mail_program = "/nonexistent/qmail-inject";
    CHECK(notify_admin(c, "subject", "text") == "mail-program /nonexistent/qmail-inject ");
    c.mail_program = "/bin/true";
    c.notify_command = {"/nonexistent/notify"};
    CHECK(notify_admin(c, "subject", "text") == "notify-command /nonexistent/notify ");
    c.notify_command = {"/bin/cat"};
    CHECK(notify_admin(c, "subject", "text").empty());
}
