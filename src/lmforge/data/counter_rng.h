// Counter-based randomness for the data layer: every random choice is a pure function of
// (seed, step, row, ...) through SplitMix64 hashing, never of a generator's hidden state. Resuming
// at step s, or sharding rows across ranks, therefore needs no saved state and is bit-exact.
#pragma once
#include <cstdint>

namespace lmforge::data {

// SplitMix64's output function (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A 64-bit key for the tuple (seed, a, b, c).
inline uint64_t counter_key(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0) {
  return splitmix64(splitmix64(splitmix64(splitmix64(seed) ^ a) ^ b) ^ c);
}

// Uniform integer in [0, n) from 64 random bits (multiply-shift; bias below 2^-64 * n).
inline uint64_t uniform_below(uint64_t bits, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(bits) * n) >> 64);
}

// Uniform double in [0, 1) from the top 53 bits.
inline double uniform01(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

// A short stream of random numbers seeded by a counter key (SplitMix64 as a generator).
class CounterRng {
 public:
  explicit CounterRng(uint64_t key) : state_(key) {}
  uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return uniform_below(next(), n); }
  double unit() { return uniform01(next()); }

 private:
  uint64_t state_;
};

}  // namespace lmforge::data
