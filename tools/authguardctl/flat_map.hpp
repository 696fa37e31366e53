// flat_map.hpp - an open-addressing hash map from 64-bit keys to small
// values, for the scanner's per-line lookups (user and address pairs,
// qmail-send's message and delivery numbers): one probe sequence in one
// array, no allocation per entry. Linear probing, erase by backward shift.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace authguardctl {

template <class Value> class FlatMap {
  public:
    static constexpr std::uint64_t empty_key = ~std::uint64_t{0}; // never a key

    // The value for `key`, or nullptr.
    Value* find(std::uint64_t key) {
        if (slots_.empty()) return nullptr;
        for (std::size_t i = index(key);; i = (i + 1) & mask_) {
            Slot& s = slots_[i];
            if (s.key == key) return &s.value;
            if (s.key == empty_key) return nullptr;
        }
    }

    // The value for `key`, inserted as `fresh` when missing; .second tells.
    std::pair<Value*, bool> try_emplace(std::uint64_t key, const Value& fresh) {
        if ((size_ + 1) * 2 > slots_.size()) grow();
        for (std::size_t i = index(key);; i = (i + 1) & mask_) {
            Slot& s = slots_[i];
            if (s.key == key) return {&s.value, false};
            if (s.key == empty_key) {
                s.key = key;
                s.value = fresh;
                ++size_;
                return {&s.value, true};
            }
        }
    }

    bool erase(std::uint64_t key) {
        if (slots_.empty()) return false;
        std::size_t i = index(key);
        while (slots_[i].key != key) {
            if (slots_[i].key == empty_key) return false;
            i = (i + 1) & mask_;
        }
        // Shift later members of the probe run back into the hole.
        for (std::size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
            if (slots_[j].key == empty_key) break;
            std::size_t home = index(slots_[j].key);
            bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
            if (movable) {
                slots_[i] = slots_[j];
                i = j;
            }
        }
        slots_[i].key = empty_key;
        --size_;
        return true;
    }

    // Erases every entry for which pred(key, value) holds.
    template <class Pred> void erase_if(Pred pred) {
        std::vector<std::uint64_t> doomed;
        for (auto& s : slots_)
            if (s.key != empty_key && pred(s.key, s.value)) doomed.push_back(s.key);
        for (auto k : doomed) erase(k);
    }

    std::size_t size() const { return size_; }

  private:
    struct Slot {
        std::uint64_t key = empty_key;
        Value value{};
    };

    std::size_t index(std::uint64_t key) const {
        key ^= key >> 33; // a strong mix: ids and counters are not random
        key *= 0xff51afd7ed558ccdULL;
        key ^= key >> 33;
        return static_cast<std::size_t>(key) & mask_;
    }

    void grow() {
        std::vector<Slot> old = std::move(slots_);
        slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{});
        mask_ = slots_.size() - 1;
        size_ = 0;
        for (auto& s : old)
            if (s.key != empty_key) try_emplace(s.key, s.value);
    }

    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
    std::size_t size_ = 0;
};

} // namespace authguardctl
