// logfile.hpp - reading mail logs for scan, report and follow: lines out of
// plain or gzip-compressed files (told by their first bytes, so a rotated
// maillog.2.gz and a pipe both work), bounded in memory whatever the input.
#pragma once

#include "authguard/fd.hpp"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace authguardctl {

// Longer lines are skipped (counted as too long), never buffered whole.
inline constexpr std::size_t max_log_line = 64 * 1024;

struct LineFlags {
    bool too_long = false;     // only its first max_log_line bytes are given
    bool unterminated = false; // the end of the input came before its newline
};

// Reads one input to its end, calling `on_line` for every line (without
// its newline). Returns "" or what went wrong (an unreadable file, corrupt
// gzip data); lines before the fault have been given.
class LogReader {
  public:
    // Read at a time: stays in the CPU cache while its lines are parsed.
    static constexpr std::size_t chunk_size = 256 << 10;

    // Takes the descriptor.
    LogReader(authguard::Fd fd, std::string name);
    ~LogReader();
    LogReader(const LogReader&) = delete;
    LogReader& operator=(const LogReader&) = delete;

    // on_line(std::string_view line, LineFlags flags) for every line (a
    // template: it is called for every line of large files).
    template <class Handler> std::string read_all(Handler&& on_line) {
        std::vector<char> buffer(chunk_size + max_log_line);
        std::size_t held = 0;  // bytes of an incomplete line at the buffer's start
        bool skipping = false; // inside a line that was too long
        std::string error;
        // A large plain file is read through a window of its pages mapped
        // into memory, then the rest (what was written since) by read().
        for (MappedWindow window; next_window(window, held, skipping, buffer.data());) {
            std::size_t start = window.first_line;
            lines_of(window.data, window.size, start, skipping, on_line);
            if (!skipping && window.size - start > max_log_line && !window_lost_pages()) {
                on_line(std::string_view(window.data + start, max_log_line),
                        LineFlags{true, false});
                skipping = true;
            }
            window.consumed = skipping ? window.size : start; // (a long line's rest is dropped)
        }
        for (;;) {
            long n = next_chunk(buffer.data() + held, chunk_size, error);
            if (n <= 0) break;
            std::size_t end = held + static_cast<std::size_t>(n);
            std::size_t start = 0;
            lines_of(buffer.data(), end, start, skipping, on_line);
            std::size_t rest = end - start;
            if (skipping) {
                rest = 0; // still inside the long line: drop it
            } else if (rest > max_log_line) {
                on_line(std::string_view(buffer.data() + start, max_log_line),
                        LineFlags{true, false});
                skipping = true;
                rest = 0;
            }
            if (rest > 0) std::memmove(buffer.data(), buffer.data() + start, rest);
            held = rest;
        }
        if (held > 0 && !skipping)
            on_line(std::string_view(buffer.data(), held), LineFlags{false, true});
        return error;
    }
    // Bytes of the input consumed so far (compressed bytes for gzip).
    std::uint64_t bytes_read() const { return bytes_read_; }

  private:
    // Every complete line of data[start, end) to on_line; `start` is left
    // at the first byte of the incomplete line after them.
    template <class Handler>
    static void lines_of(const char* data, std::size_t end, std::size_t& start, bool& skipping,
                         Handler& on_line) {
        while (start < end) {
            const void* nl = std::memchr(data + start, '\n', end - start);
            if (!nl) break;
            std::size_t at = static_cast<std::size_t>(static_cast<const char*>(nl) - data);
            if (!skipping) {
                std::size_t length = at - start;
                if (length > max_log_line)
                    on_line(std::string_view(data + start, max_log_line), LineFlags{true, false});
                else
                    on_line(std::string_view(data + start, length), LineFlags{});
            }
            skipping = false;
            start = at + 1;
        }
    }

    // Some pages of the file mapped read-only (see logfile.cpp: why, and
    // what happens when the file is truncated meanwhile).
    struct MappedWindow {
        const char* data = nullptr;
        std::size_t size = 0;       // bytes mapped
        std::size_t first_line = 0; // where in them the next line starts
        std::size_t consumed = 0;   // set by the reader: where the incomplete line starts
        std::uint64_t offset = 0;   // the file offset of data[0]
        MappedWindow() = default;
        ~MappedWindow();
        MappedWindow(const MappedWindow&) = delete;
        MappedWindow& operator=(const MappedWindow&) = delete;
    };
    // Moves `window` on to the file's next pages; false when the file is
    // not mapped (not a plain file, small, gzip) or all of it was, after
    // putting the incomplete last line in `buffer` (`held` bytes) and
    // setting the descriptor's offset to after it, for read().
    bool next_window(MappedWindow& window, std::size_t& held, bool& skipping, char* buffer);
    // The file was truncated under the window (its lost pages read as zeros).
    static bool window_lost_pages();

    struct Inflater;
    // Fills `out` with the next bytes of plain text; 0 at the end, -1 on error.
    long next_chunk(char* out, std::size_t size, std::string& error);

    authguard::Fd fd_;
    std::string name_;
    std::unique_ptr<Inflater> inflater_;
    std::vector<char> raw_; // compressed input waiting for the inflater
    bool sniffed_ = false;
    bool mapping_done_ = false;
    std::uint64_t mapped_size_ = 0; // the file's size when its mapping began
    std::uint64_t bytes_read_ = 0;
};

// Opens a path ("-": standard input) for reading. Throws std::runtime_error.
authguard::Fd open_log(const std::string& path);

// Puts rotated files in the order they were written: maillog.3.gz,
// maillog.2.gz, maillog.1, maillog; dated ones (maillog-20240102) by date;
// multilog's @<TAI64N>.s by their names, then `current` beside them.
// Files of different logs keep the order they were given in.
std::vector<std::string> rotation_order(const std::vector<std::string>& paths);

} // namespace authguardctl
