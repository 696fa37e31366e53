// envelope.hpp - the QMAILQUEUE envelope, as qmail-smtpd writes it to the
// queue program's fd 1 and qmail-queue reads it: "F<sender>\0", then
// "T<recipient>\0" per recipient, then one more "\0". authguard-queue reads
// it only to count the recipients and hands the bytes on unchanged; the
// next queue program (qmail-queue) is the one that accepts or refuses it.
#pragma once

#include <cstddef>
#include <string_view>

namespace authguard::envelope {

// What an envelope holds, read as qmail-queue reads it.
struct Summary {
    // The T fields before the terminating empty field: the recipients the
    // message is queued for. Bytes after the terminator are never read by
    // qmail-queue, so a T there is not a recipient.
    int recipients = 0;
    // qmail-queue would take it: an F field first, then T fields only, then
    // the empty field. A malformed envelope makes it exit 91 (or 54 when
    // cut short); authguard-queue takes the count back then.
    bool well_formed = false;
    bool terminated = false; // the final empty field was seen
};

Summary summarize(std::string_view envelope);

// The recipients a message counts for in the sending limits.
inline int count_recipients(std::string_view envelope) {
    return summarize(envelope).recipients;
}

} // namespace authguard::envelope
