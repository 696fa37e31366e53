// mmdb_writer.hpp - writes small MaxMind DB files (the format GeoLite2-ASN
// and DB-IP ASN Lite come in) for the tests of the table reader, so that no
// downloaded database is needed. Written from the MaxMind DB format
// specification: a binary search tree of 24- or 32-bit records, 16 zero
// bytes, a data section of typed values, then "\xAB\xCD\xEFMaxMind.com" and
// a metadata map.
//
// Each network maps to {autonomous_system_number: uint32,
// autonomous_system_organization: utf8 string} as in GeoLite2-ASN (the name
// is left out when empty). In an IPv6 tree, IPv4 networks go under ::/96,
// where libmaxminddb looks IPv4 addresses up.
#pragma once

#include "authguard/address.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace authguard::testing {

struct MmdbNetwork {
    Cidr network;
    std::uint32_t asn = 0;
    std::string name;
};

class MmdbWriter {
  public:
    // ip_version 4 (IPv4 networks only) or 6; record_size 24 or 32.
    explicit MmdbWriter(int ip_version = 6, int record_size = 24)
        : ip_version_(ip_version), record_size_(record_size) {
        nodes_.push_back({});
    }

    // Later networks inside earlier ones override them there.
    void add(const MmdbNetwork& n) {
        std::array<std::uint8_t, 16> bits{};
        int length = n.network.prefix;
        if (n.network.base.family == Address::Family::v4) {
            if (ip_version_ == 6) {
                std::copy_n(n.network.base.bytes.begin(), 4, bits.begin() + 12);
                length += 96;
            } else {
                std::copy_n(n.network.base.bytes.begin(), 4, bits.begin());
            }
        } else {
            if (ip_version_ == 4) throw std::invalid_argument("IPv6 network in an IPv4 tree");
            bits = n.network.base.bytes;
        }
        if (length == 0) throw std::invalid_argument("a /0 network is not supported");
        Record data{Record::data, data_offset(n.asn, n.name)};
        std::uint32_t node = 0;
        for (int depth = 0; depth < length; ++depth) {
            int bit = (bits[static_cast<std::size_t>(depth / 8)] >> (7 - depth % 8)) & 1;
            if (depth == length - 1) {
                nodes_[node][bit] = data;
                break;
            }
            Record next = nodes_[node][bit];
            if (next.kind != Record::node) { // split: both halves keep what was here
                auto child = static_cast<std::uint32_t>(nodes_.size());
                nodes_.push_back({next, next});
                nodes_[node][bit] = {Record::node, child};
                node = child;
            } else {
                node = next.value;
            }
        }
    }

    std::string bytes(std::uint64_t build_epoch, const std::string& database_type = "GeoLite2-ASN",
                      const std::string& description = "authguard test ASN database") const {
        auto node_count = static_cast<std::uint32_t>(nodes_.size());
        auto value = [&](const Record& r) -> std::uint64_t {
            switch (r.kind) {
            case Record::node:
                return r.value;
            case Record::data:
                return std::uint64_t{node_count} + 16 + r.value;
            default:
                return node_count;
            }
        };
        std::string out;
        for (const auto& node : nodes_) {
            std::uint64_t left = value(node[0]), right = value(node[1]);
            if ((left | right) >> record_size_) throw std::length_error("record too large");
            put_be(out, left, record_size_ / 8);
            put_be(out, right, record_size_ / 8);
        }
        out.append(16, '\0');
        out += data_;
        out += std::string("\xAB\xCD\xEF", 3) + "MaxMind.com";
        put_control(out, map_type, 9);
        put_string(out, "node_count");
        put_uint(out, uint32_type, node_count);
        put_string(out, "record_size");
        put_uint(out, uint16_type, static_cast<std::uint64_t>(record_size_));
        put_string(out, "ip_version");
        put_uint(out, uint16_type, static_cast<std::uint64_t>(ip_version_));
        put_string(out, "database_type");
        put_string(out, database_type);
        put_string(out, "languages");
        put_control(out, array_type, 1);
        put_string(out, "en");
        put_string(out, "binary_format_major_version");
        put_uint(out, uint16_type, 2);
        put_string(out, "binary_format_minor_version");
        put_uint(out, uint16_type, 0);
        put_string(out, "build_epoch");
        put_uint(out, uint64_type, build_epoch);
        put_string(out, "description");
        put_control(out, map_type, 1);
        put_string(out, "en");
        put_string(out, description);
        return out;
    }

  private:
    struct Record {
        enum Kind : std::uint8_t { empty, node, data } kind = empty;
        std::uint32_t value = 0; // node index, or offset in the data section
    };

    // Types of the data section's values.
    static constexpr int utf8_type = 2, uint16_type = 5, uint32_type = 6, map_type = 7,
                         uint64_type = 9, array_type = 11;

    static void put_be(std::string& out, std::uint64_t v, int bytes) {
        for (int i = bytes - 1; i >= 0; --i)
            out += static_cast<char>((v >> (8 * i)) & 0xff);
    }

    // The control byte(s): type in the top 3 bits (0 and an extra byte for
    // the extended types past 7), then the size in 5 bits plus 0-3 bytes.
    static void put_control(std::string& out, int type, std::size_t size) {
        unsigned first = type <= 7 ? static_cast<unsigned>(type) << 5 : 0;
        std::string size_bytes;
        if (size < 29) {
            first |= static_cast<unsigned>(size);
        } else if (size < 285) {
            first |= 29;
            put_be(size_bytes, size - 29, 1);
        } else if (size < 65821) {
            first |= 30;
            put_be(size_bytes, size - 285, 2);
        } else {
            first |= 31;
            put_be(size_bytes, size - 65821, 3);
        }
        out += static_cast<char>(first);
        if (type > 7) out += static_cast<char>(type - 7);
        out += size_bytes;
    }

    static void put_string(std::string& out, const std::string& s) {
        put_control(out, utf8_type, s.size());
        out += s;
    }

    static void put_uint(std::string& out, int type, std::uint64_t v) {
        int bytes = 0;
        for (std::uint64_t rest = v; rest != 0; rest >>= 8)
            ++bytes;
        put_control(out, type, static_cast<std::size_t>(bytes));
        put_be(out, v, bytes);
    }

    // One data record per provider, shared by all its networks.
    std::uint32_t data_offset(std::uint32_t asn, const std::string& name) {
        auto [it, inserted] =
            offsets_.try_emplace({asn, name}, static_cast<std::uint32_t>(data_.size()));
        if (inserted) {
            put_control(data_, map_type, name.empty() ? 1 : 2);
            put_string(data_, "autonomous_system_number");
            put_uint(data_, uint32_type, asn);
            if (!name.empty()) {
                put_string(data_, "autonomous_system_organization");
                put_string(data_, name);
            }
        }
        return it->second;
    }

    int ip_version_;
    int record_size_;
    std::vector<std::array<Record, 2>> nodes_;
    std::string data_;
    std::map<std::pair<std::uint32_t, std::string>, std::uint32_t> offsets_;
};

} // namespace authguard::testing
