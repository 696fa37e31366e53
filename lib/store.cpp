// store.cpp - choosing the store the configuration names, and what every
// store shares by default.
#include "authguard/store.hpp"

#include "authguard/lmdb_store.hpp"
#include "authguard/redis_store.hpp"

namespace authguard {

UserDump Store::dump(const std::string&) { throw StoreError("this store cannot export"); }

void Store::restore(const UserDump&) { throw StoreError("this store cannot import"); }

std::unique_ptr<Store> open_store(const Config& config) {
    if (config.store.kind == StoreConfig::Kind::redis) return std::make_unique<RedisStore>(config);
    return std::make_unique<LmdbStore>(config);
}

} // namespace authguard
