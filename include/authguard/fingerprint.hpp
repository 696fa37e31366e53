// fingerprint.hpp - a password's keyed, truncated hash.
//
// Lets the detector see "the same wrong password from many networks" (a
// botnet replaying a stolen password after it was changed) without ever
// storing or logging the password: SipHash-2-4 under a secret from the
// control file, cut to at most 16 bits, so that millions of passwords share
// each value and none can be recovered or tested offline.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace authguard {

std::uint64_t siphash24(std::string_view key16, std::string_view data);

// nullopt when no secret is configured.
std::optional<std::uint16_t> password_fingerprint(std::string_view secret, int bits,
                                                  std::string_view user, std::string_view password);

} // namespace authguard
