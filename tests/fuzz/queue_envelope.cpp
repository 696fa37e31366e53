// queue_envelope.cpp - libFuzzer harness: the QMAILQUEUE envelope that
// authguard-queue reads on fd 1 ("F<sender>\0" "T<rcpt>\0"... "\0"), summed
// up as lib/envelope.cpp does, checked against a model of qmail-queue's own
// reading: the recipients counted are exactly the T fields qmail-queue
// would queue the message for, never more.
#include "authguard/envelope.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

// qmail-queue.c: an F field, then T fields until an empty one; anything
// else is exit 91 (bad envelope), a short read exit 54.
struct Model {
    bool accepted = false;
    int recipients = 0;
};

Model qmail_queue(std::string_view e) {
    Model m;
    std::size_t i = 0;
    auto field = [&]() { // past the NUL ending the field at i; false when cut short
        auto end = e.find('\0', i);
        if (end == std::string_view::npos) return false;
        i = end + 1;
        return true;
    };
    if (i >= e.size() || e[i] != 'F' || !field()) return m;
    int seen = 0;
    for (;;) {
        if (i >= e.size()) return m;
        if (e[i] == '\0') break;
        if (e[i] != 'T' || !field()) return m;
        ++seen;
    }
    m.accepted = true;
    m.recipients = seen;
    return m;
}

// Every field starting with T, wherever it is: an upper bound on any count.
int t_fields(std::string_view e) {
    int n = 0;
    for (std::size_t i = 0; i < e.size();) {
        if (e[i] == 'T') ++n;
        auto end = e.find('\0', i);
        if (end == std::string_view::npos) break;
        i = end + 1;
    }
    return n;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view envelope(reinterpret_cast<const char*>(data), size);
    auto s = authguard::envelope::summarize(envelope);
    if (s.recipients < 0 || s.recipients > t_fields(envelope)) std::abort();
    if (s.well_formed && !s.terminated) std::abort();
    Model m = qmail_queue(envelope);
    // What qmail-queue takes, authguard takes the same way, and counts the
    // same recipients; what it refuses is taken back by authguard-queue.
    if (m.accepted != s.well_formed) std::abort();
    if (m.accepted && m.recipients != s.recipients) std::abort();
    // Bytes after the final NUL are never read by qmail-queue.
    if (s.terminated) {
        std::string longer(envelope);
        longer += "Textra@example.com";
        longer += '\0';
        if (authguard::envelope::summarize(longer).recipients != s.recipients) std::abort();
    }
    return 0;
}
