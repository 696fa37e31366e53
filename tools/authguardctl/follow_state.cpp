// follow_state.cpp - authguardctl follow's state file, its lock, and the
// names and tokens of the marks it leaves in the store (see follow.hpp).
#include "follow.hpp"

#include "authguard/hash.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace authguardctl::follow {

namespace ag = authguard;

namespace {

std::string hex(std::uint64_t value, int digits) {
    static constexpr char numerals[] = "0123456789abcdef";
    std::string out(static_cast<std::size_t>(digits), '0');
    for (int i = digits - 1; i >= 0; --i, value >>= 4)
        out[static_cast<std::size_t>(i)] = numerals[value & 15];
    return out;
}

[[noreturn]] void fail(const std::string& what, const std::string& path) {
    throw std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

} // namespace

StateFile::StateFile(std::string path) : path_(std::move(path)) {
    std::string lock = path_ + ".lock";
    int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) fail("cannot open the lock file", lock);
    lock_ = ag::Fd(fd);
    // Two followers on one state would each take the other's marks for
    // events they fed themselves.
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            throw std::runtime_error("another authguardctl follow uses the state file " + path_ +
                                     " (it holds " + lock + ")");
        fail("cannot lock", lock);
    }
}

// "v2 DEV INO OFFSET HASH SEGMENT HORIZON CONTEXT PATH" per line, PATH last
// (it may hold spaces). Lines of version 1 ("v1 DEV INO OFFSET HASH PATH",
// before marks) are read with no segment: the follower then starts one at
// the offset.
std::map<std::string, Position> parse_state(std::string_view text) {
    std::map<std::string, Position> out;
    std::istringstream in{std::string(text)};
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string version, file;
        Position p;
        if (!(words >> version >> p.dev >> p.ino >> p.offset >> p.hash)) continue;
        if (version == "v2") {
            if (!(words >> p.segment >> p.horizon >> p.context)) continue;
        } else if (version == "v1") {
            p.horizon = p.context = p.offset;
        } else {
            continue;
        }
        words.get();
        std::getline(words, file);
        if (!file.empty() && p.context <= p.offset) out[file] = p;
    }
    return out;
}

std::string format_state(const std::map<std::string, Position>& state) {
    std::string text;
    for (auto& [file, p] : state) {
        text += p.segment.empty() ? "v1 " : "v2 ";
        text += std::to_string(p.dev) + " " + std::to_string(p.ino) + " " +
                std::to_string(p.offset) + " " + std::to_string(p.hash) + " ";
        // No segment yet (a version 1 line not followed since): an empty
        // word would shift every field after it when read back.
        if (!p.segment.empty())
            text +=
                p.segment + " " + std::to_string(p.horizon) + " " + std::to_string(p.context) + " ";
        text += file + "\n";
    }
    return text;
}

std::map<std::string, Position> StateFile::load() const {
    std::ifstream in(path_);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_state(text);
}

void StateFile::save(const std::map<std::string, Position>& state, bool sync) const {
    std::string tmp = path_ + ".tmp";
    std::string text = format_state(state);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) fail("cannot write the state file", tmp);
    ag::Fd owner(fd);
    // A crash of the follower keeps what was written (the kernel has it);
    // fsync only matters for a crash of the machine, so only on a stop.
    if (!ag::write_all(fd, text.data(), text.size()) || (sync && ::fsync(fd) != 0))
        fail("cannot write the state file", tmp);
    owner.reset();
    if (std::rename(tmp.c_str(), path_.c_str()) != 0) fail("cannot rename", tmp);
}

std::string new_segment() {
    std::random_device random;
    std::uint64_t value = (std::uint64_t{random()} << 32) ^ random();
    return hex(value, 16);
}

std::string follower_id(const std::string& state_path, const std::string& file) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    std::string state = std::filesystem::absolute(state_path).lexically_normal().string();
    return hex(ag::fnv1a(std::string(host) + '\0' + state + '\0' + file), 8);
}

std::string token(const Place& place) {
    return std::string(place.segment) + ":" + std::to_string(place.offset) + ":" +
           std::to_string(place.index);
}

bool counted(std::string_view mark, const Place& place) {
    auto colon = mark.find(':');
    if (colon == std::string_view::npos || mark.substr(0, colon) != place.segment) return false;
    std::uint64_t offset = 0;
    std::uint32_t index = 0;
    const char* p = mark.data() + colon + 1;
    const char* end = mark.data() + mark.size();
    auto [after_offset, e1] = std::from_chars(p, end, offset);
    if (e1 != std::errc{} || after_offset == end || *after_offset != ':') return false;
    auto [after_index, e2] = std::from_chars(after_offset + 1, end, index);
    if (e2 != std::errc{} || after_index != end) return false;
    return offset > place.offset || (offset == place.offset && index >= place.index);
}

} // namespace authguardctl::follow
