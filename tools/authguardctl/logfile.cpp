// logfile.cpp - line reading from plain and gzip logs (zlib), and the
// order of rotated files (see logfile.hpp).
#include "logfile.hpp"

#include <zlib.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string_view>

namespace authguardctl {

// zlib's inflate state for one gzip stream (members are read one after
// another, as gunzip does).
struct LogReader::Inflater {
    z_stream stream{};
    bool ready = false;
    bool member_ended = false; // a gzip member is complete; another may follow
    bool finished = false;     // nothing more to inflate
    Inflater() { ready = inflateInit2(&stream, 16 + MAX_WBITS) == Z_OK; }
    ~Inflater() {
        if (ready) inflateEnd(&stream);
    }
    Inflater(const Inflater&) = delete;
    Inflater& operator=(const Inflater&) = delete;
};

// Large plain files are read through a mapping of their pages, a window
// at a time: no copy into a buffer (the kernel's copy was a tenth of a
// scan), and memory stays bounded whatever the file's size. Smaller ones,
// gzip files, pipes and terminals are read with read().
//
// A file truncated while it is mapped (copytruncate rotation) makes its
// lost pages raise SIGBUS. While a window is mapped, a handler maps a page
// of zeros over such a page and notes it; the reader then stops using the
// mapping and reads on with read() from the last whole line, as it would
// have without a mapping. A SIGBUS anywhere else goes to the handler that
// was there before.
namespace {

constexpr std::size_t window_size = 4 << 20;       // mapped at a time
constexpr std::uint64_t smallest_mapped = 1 << 20; // smaller files are read

// The window the handler may repair (authguardctl reads one file at a time,
// in one thread). Plain words: a signal handler may read them.
struct FaultZone {
    volatile std::uintptr_t begin = 0, end = 0;
    volatile std::uintptr_t page_size = 4096;
    volatile sig_atomic_t hit = 0;
    struct sigaction previous {};
};
FaultZone fault_zone;

extern "C" void on_bus_error(int signal, siginfo_t* info, void* context) {
    auto at = reinterpret_cast<std::uintptr_t>(info->si_addr);
    if (at >= fault_zone.begin && at < fault_zone.end) {
        void* page = reinterpret_cast<void*>(at & ~(fault_zone.page_size - 1));
        if (::mmap(page, fault_zone.page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                   -1, 0) != MAP_FAILED) {
            fault_zone.hit = 1;
            return; // the load is tried again, and reads zeros
        }
    }
    // Not ours: what the previous disposition does. A handler is called
    // (and the window stays guarded); the default action, or SIG_IGN, which
    // cannot hold off a fault, is put back and the fault tried again.
    const struct sigaction& previous = fault_zone.previous;
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
        previous.sa_sigaction(signal, info, context);
    } else if (!(previous.sa_flags & SA_SIGINFO) && previous.sa_handler != SIG_DFL &&
               previous.sa_handler != SIG_IGN) {
        previous.sa_handler(signal);
    } else {
        ::sigaction(SIGBUS, &previous, nullptr);
    }
}

// Maps [offset, offset + size) of fd and guards it; nullptr when it cannot.
// (MAP_POPULATE: the window's pages are mapped in one call, not by a
// fault every few pages as they are read.)
const char* map_guarded(int fd, std::uint64_t offset, std::size_t size) {
    void* at = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd,
                      static_cast<off_t>(offset));
    if (at == MAP_FAILED) return nullptr;
    struct sigaction action {};
    action.sa_sigaction = on_bus_error;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    fault_zone.page_size = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    fault_zone.hit = 0;
    fault_zone.begin = reinterpret_cast<std::uintptr_t>(at);
    fault_zone.end = fault_zone.begin + size;
    if (::sigaction(SIGBUS, &action, &fault_zone.previous) != 0) {
        ::munmap(at, size);
        fault_zone.begin = 0;
        fault_zone.end = 0;
        return nullptr;
    }
    return static_cast<const char*>(at);
}

void unmap_guarded(const char* data, std::size_t size) {
    ::munmap(const_cast<char*>(data), size);
    ::sigaction(SIGBUS, &fault_zone.previous, nullptr);
    fault_zone.begin = 0;
    fault_zone.end = 0;
}

} // namespace

bool LogReader::window_lost_pages() {
    return fault_zone.hit != 0;
}

LogReader::MappedWindow::~MappedWindow() {
    if (data) unmap_guarded(data, size);
}

bool LogReader::next_window(MappedWindow& window, std::size_t& held, bool& skipping, char* buffer) {
    if (mapping_done_) return false;
    auto stop = [&](std::uint64_t read_from) {
        if (window.data) {
            unmap_guarded(window.data, window.size);
            window.data = nullptr;
        }
        mapping_done_ = true;
        if (read_from > 0) {
            ::lseek(fd_.get(), static_cast<off_t>(read_from), SEEK_SET);
            bytes_read_ = read_from;
            sniffed_ = true; // plain text
        }
        return false;
    };
    if (!window.data) { // the first window: is this a large plain file?
        struct stat st {};
        unsigned char magic[2] = {};
        if (::fstat(fd_.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
            static_cast<std::uint64_t>(st.st_size) < smallest_mapped ||
            ::lseek(fd_.get(), 0, SEEK_CUR) != 0 || ::pread(fd_.get(), magic, 2, 0) != 2 ||
            (magic[0] == 0x1f && magic[1] == 0x8b))
            return stop(0);
        mapped_size_ = static_cast<std::uint64_t>(st.st_size);
        window.offset = 0;
        window.first_line = 0;
    } else {
        std::uint64_t next_line = window.offset + window.consumed;
        bool truncated = fault_zone.hit != 0;
        bool last = window.offset + window.size >= mapped_size_;
        if (truncated) return stop(next_line); // read() from the last whole line on
        if (last) {
            held = skipping ? 0 : window.size - window.consumed; // at most max_log_line (read_all)
            if (held > 0) std::memcpy(buffer, window.data + window.consumed, held);
            return stop(mapped_size_);
        }
        unmap_guarded(window.data, window.size);
        window.data = nullptr;
        std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
        window.offset = next_line & ~(page - 1);
        window.first_line = static_cast<std::size_t>(next_line - window.offset);
    }
    window.size = static_cast<std::size_t>(
        std::min<std::uint64_t>(window_size, mapped_size_ - window.offset));
    window.consumed = 0;
    window.data = map_guarded(fd_.get(), window.offset, window.size);
    if (!window.data) return stop(window.offset + window.first_line);
    return true;
}

LogReader::LogReader(authguard::Fd fd, std::string name)
    : fd_(std::move(fd)), name_(std::move(name)) {}

LogReader::~LogReader() = default;

long LogReader::next_chunk(char* out, std::size_t size, std::string& error) {
    auto read_raw = [&](char* into, std::size_t n) -> long {
        for (;;) {
            ssize_t r = ::read(fd_.get(), into, n);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) {
                error = name_ + ": " + std::strerror(errno);
                return -1;
            }
            bytes_read_ += static_cast<std::uint64_t>(r);
            return static_cast<long>(r);
        }
    };
    if (!sniffed_) {
        sniffed_ = true;
        raw_.resize(chunk_size);
        long n = read_raw(raw_.data(), 2);
        if (n == 1) { // one more byte may complete the magic
            long m = read_raw(raw_.data() + 1, 1);
            if (m < 0) return -1;
            n += m;
        }
        if (n < 0) return -1;
        raw_.resize(static_cast<std::size_t>(n));
        if (n == 2 && static_cast<unsigned char>(raw_[0]) == 0x1f &&
            static_cast<unsigned char>(raw_[1]) == 0x8b) {
            inflater_ = std::make_unique<Inflater>();
            if (!inflater_->ready) {
                error = name_ + ": cannot start zlib";
                return -1;
            }
            inflater_->stream.next_in = reinterpret_cast<Bytef*>(raw_.data()); // the magic
            inflater_->stream.avail_in = 2;
        } else { // plain text: hand over the sniffed bytes first
            std::memcpy(out, raw_.data(), raw_.size());
            long given = static_cast<long>(raw_.size());
            raw_.clear();
            if (given > 0) return given;
        }
    }
    if (!inflater_) return read_raw(out, size);

    z_stream& z = inflater_->stream;
    z.next_out = reinterpret_cast<Bytef*>(out);
    z.avail_out = static_cast<uInt>(size);
    while (z.avail_out == size && !inflater_->finished) {
        if (z.avail_in == 0) {
            raw_.resize(chunk_size);
            long n = read_raw(raw_.data(), raw_.size());
            if (n < 0) return -1;
            if (n == 0) {
                raw_.clear();
                if (!inflater_->member_ended && z.avail_out == size) {
                    error = name_ + ": gzip data cut short";
                    inflater_->finished = true;
                    return -1;
                }
                break;
            }
            raw_.resize(static_cast<std::size_t>(n));
            z.next_in = reinterpret_cast<Bytef*>(raw_.data());
            z.avail_in = static_cast<uInt>(n);
        }
        if (inflater_->member_ended) {
            // Another member may follow (cat a.gz b.gz); anything else (the
            // zeros some tools pad with) ends the input.
            if (z.next_in[0] != 0x1f) {
                inflater_->finished = true;
                break;
            }
            inflateReset(&z);
            inflater_->member_ended = false;
        }
        int rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            inflater_->member_ended = true;
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            error = name_ + ": corrupt gzip data" + (z.msg ? std::string(" (") + z.msg + ")" : "");
            return -1;
        }
    }
    return static_cast<long>(size - z.avail_out);
}

authguard::Fd open_log(const std::string& path) {
    if (path == "-") return authguard::Fd(::dup(0));
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(path + ": " + std::strerror(errno));
    return authguard::Fd(fd);
}

std::vector<std::string> rotation_order(const std::vector<std::string>& paths) {
    struct Entry {
        std::string path;
        std::size_t group;
        int kind;          // 0 numbered (oldest first), 1 dated, 2 the live file
        long long number;  // the rotation number or the date
        std::string label; // multilog's: the TAI64N of its last line, in hex
        std::size_t given;
    };
    std::map<std::string, std::size_t> groups;
    std::vector<Entry> entries;
    for (std::size_t i = 0; i < paths.size(); ++i) {
        std::string base = paths[i];
        if (base.size() > 3 && base.compare(base.size() - 3, 3, ".gz") == 0)
            base.resize(base.size() - 3);
        int kind = 2;
        long long number = 0;
        std::string label;
        auto digits_after = [&](char sep) -> bool {
            auto at = base.rfind(sep);
            if (at == std::string::npos || at + 1 >= base.size() ||
                base.find('/', at) != std::string::npos)
                return false;
            std::string tail = base.substr(at + 1);
            if (tail.size() > 10 ||
                !std::all_of(tail.begin(), tail.end(), [](char c) { return c >= '0' && c <= '9'; }))
                return false;
            number = std::stoll(tail);
            base.resize(at);
            return true;
        };
        // multilog's rotated files, @<TAI64N>.s (or .u: cut short), are
        // named by when they were closed, and its live file is `current`
        // beside them. The hex of a TAI64N sorts as the time does.
        auto slash = base.rfind('/');
        std::size_t at = slash == std::string::npos ? 0 : slash + 1;
        std::string_view name = std::string_view(base).substr(at);
        bool multilog = name.size() == 27 && name[0] == '@' && name[25] == '.' &&
                        (name[26] == 's' || name[26] == 'u') &&
                        std::all_of(name.begin() + 1, name.begin() + 25, [](char c) {
                            return std::isxdigit(static_cast<unsigned char>(c));
                        });
        if (multilog) {
            kind = 1;
            for (char c : name.substr(1, 24))
                label.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
            base = base.substr(0, at) + "current";
        } else if (digits_after('.')) {
            kind = 0;
        } else if (digits_after('-')) {
            kind = 1;
        }
        auto [it, fresh] = groups.emplace(base, groups.size());
        entries.push_back({paths[i], it->second, kind, number, label, i});
    }
    std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        if (a.group != b.group) return a.group < b.group;
        if (a.kind != b.kind) return a.kind < b.kind;
        if (a.kind == 0) return a.number > b.number;
        if (a.number != b.number) return a.number < b.number;
        return a.label < b.label;
    });
    std::vector<std::string> out;
    for (auto& e : entries)
        out.push_back(e.path);
    return out;
}

} // namespace authguardctl
