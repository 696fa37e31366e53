// version.hpp - `--version` (and the hooks' `--help`) for every program of
// authguard. The version is
// the top-level VERSION file, which the Makefile turns into the generated
// header authguard_version.hpp (in $(B)/gen), so that one file sets it for
// the programs, `make install` and the Debian package alike.
#pragma once

#include "authguard_version.hpp"

#include <cstdio>
#include <string_view>

namespace authguard {

inline constexpr std::string_view version = authguard_version_text;

// True when the command line is exactly "PROGRAM --version". Only that form
// is taken: authguard-checkpw's argv[1] is normally the real checkpassword's
// path, and qmail never passes "--version" as a sole argument.
inline bool version_asked(int argc, char** argv) {
    return argc == 2 && std::string_view(argv[1]) == "--version";
}

// Prints "NAME VERSION" on stdout; returns the exit code (1 when stdout
// cannot be written, so that a full disk is not taken for an answer).
inline int print_version(const char* name) {
    const bool written = std::printf("%s %s\n", name, authguard_version_text) > 0;
    return (std::fflush(stdout) == 0 && written) ? 0 : 1;
}

// True when the command line is exactly "PROGRAM --help" (or "-h"), the
// same single-argument form as --version.
inline bool help_asked(int argc, char** argv) {
    return argc == 2 &&
           (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h");
}

// Prints a hook's usage on stdout (the text ends with a newline); the exit
// code as for print_version.
inline int print_help(const char* usage) {
    const bool written = std::fputs(usage, stdout) >= 0;
    return (std::fflush(stdout) == 0 && written) ? 0 : 1;
}

} // namespace authguard
