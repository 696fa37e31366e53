// envelope.cpp - reading the QMAILQUEUE envelope (see envelope.hpp). The
// bytes come from qmail-smtpd, but their addresses from strangers: nothing
// here may assume a field's length or content.
#include "authguard/envelope.hpp"

#include <climits>

namespace authguard::envelope {

Summary summarize(std::string_view envelope) {
    Summary s;
    bool first = true;
    bool shape_ok = true;
    std::size_t field = 0;
    while (field < envelope.size()) {
        auto end = envelope.find('\0', field);
        if (end == field) { // the empty field: the envelope ends here
            s.terminated = true;
            break;
        }
        char kind = envelope[field];
        if (first ? kind != 'F' : kind != 'T') shape_ok = false;
        // A T field cut short (no NUL) still counts: qmail-smtpd died while
        // writing, the next queue program fails and the count is taken back.
        if (!first && kind == 'T' && s.recipients < INT_MAX) ++s.recipients;
        first = false;
        if (end == std::string_view::npos) break;
        field = end + 1;
    }
    s.well_formed = shape_ok && s.terminated && !first;
    return s;
}

} // namespace authguard::envelope
