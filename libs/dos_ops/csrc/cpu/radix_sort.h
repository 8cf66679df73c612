// Parallel stable LSD radix sort of (key, value) pairs on the low `bits` bits of the keys.
#pragma once

#include <ATen/Parallel.h>

#include <cstdint>
#include <vector>

#include "memory.h"
#include "parallel.h"

namespace dos_ops {
namespace cpu {

constexpr int kDigitBits = 11;
constexpr int64_t kDigits = int64_t{1} << kDigitBits;

// Sorts keys (and values alongside) in place; stable, so equal keys keep their input order.
inline void radix_sort_pairs(Buffer<uint64_t>& keys, Buffer<int64_t>& values, int bits) {
  const int64_t n = keys.size();
  const int64_t parts = n < kLightPassRows ? 1 : at::get_num_threads();
  const int64_t part_rows = (n + parts - 1) / parts;
  Buffer<uint64_t> keys_tmp(n);
  Buffer<int64_t> values_tmp(n);
  std::vector<int64_t> count(parts * kDigits);
  for (int shift = 0; shift < bits; shift += kDigitBits) {
    std::fill(count.begin(), count.end(), 0);
    at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        int64_t* c = count.data() + p * kDigits;
        for (int64_t i = p * part_rows, e = std::min(n, (p + 1) * part_rows); i < e; ++i) {
          ++c[(keys[i] >> shift) & (kDigits - 1)];
        }
      }
    });
    // Exclusive scan in (digit, part) order gives every part its stable output position per digit.
    int64_t total = 0;
    bool single_digit = false;
    for (int64_t d = 0; d < kDigits; ++d) {
      int64_t digit_total = 0;
      for (int64_t p = 0; p < parts; ++p) {
        const int64_t c = count[p * kDigits + d];
        count[p * kDigits + d] = total;
        total += c;
        digit_total += c;
      }
      single_digit = single_digit || digit_total == n;
    }
    if (single_digit) continue;  // every key has the same digit: the pass would be the identity
    at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        int64_t* pos = count.data() + p * kDigits;
        for (int64_t i = p * part_rows, e = std::min(n, (p + 1) * part_rows); i < e; ++i) {
          const int64_t at = pos[(keys[i] >> shift) & (kDigits - 1)]++;
          keys_tmp[at] = keys[i];
          values_tmp[at] = values[i];
        }
      }
    });
    keys.swap(keys_tmp);
    values.swap(values_tmp);
  }
}

}  // namespace cpu
}  // namespace dos_ops
