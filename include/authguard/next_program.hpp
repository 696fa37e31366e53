// next_program.hpp - what the QMAILQUEUE stages (authguard-queue,
// authguard-dkim) check before they hand a message to the next queue
// program: that it can be run, and that it is not themselves (a
// QMAILQUEUE inherited by the next program would loop forever).
#pragma once

#include <string>

namespace authguard {

// Why `path` cannot be run ("" when it can): the strerror text an admin
// needs, checked before anything is read or counted.
std::string why_not_runnable(const std::string& path);

// True when both paths name the same file (device and inode).
bool same_file(const std::string& a, const std::string& b);

} // namespace authguard
