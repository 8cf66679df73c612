// CPU grid pooling: one 64-bit key per point, parallel stable radix sort, segments, then a parallel
// reduction per cell.
//
// The key is the packed (cloud, x, y, z) key of common/grid_key.h with the fields of every cloud
// shifted to that cloud's minimum and cut to the bits in use; that map preserves the key order and
// usually halves the number of radix passes. The sort is stable and starts from the identity permutation, so inside a
// cell the points keep input order: head is the lowest row, and max ties resolve to the lowest row.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>
#include <vector>

#include "../checks.h"
#include "../common/grid_key.h"
#include "../common/offsets.h"
#include "memory.h"
#include "parallel.h"
#include "radix_sort.h"
#include "vector_math.h"

namespace dos_ops {
namespace cpu {
namespace {

constexpr int64_t kChunkRows = 1 << 14;

int bit_width(int64_t x) {
  int bits = 0;
  while ((x >> bits) != 0) ++bits;
  return bits;
}

// x / stride for grid coordinates in [0, 2^16): a shift for power-of-two strides (the usual 2),
// else a 32-bit division; 64-bit divisions dominated the key computation.
class Divider {
 public:
  explicit Divider(int64_t stride) : stride_(static_cast<uint32_t>(stride)) {
    if ((stride & (stride - 1)) == 0) {
      shift_ = 0;
      while ((int64_t{1} << shift_) < stride) ++shift_;
    }
  }
  int64_t operator()(int64_t x) const {
    return shift_ >= 0 ? x >> shift_ : static_cast<int64_t>(static_cast<uint32_t>(x) / stride_);
  }

 private:
  uint32_t stride_;
  int shift_ = -1;
};

struct Cells {
  Buffer<int64_t> order;   // [N] input rows sorted by key
  Buffer<uint64_t> key;    // [N] sorted compact keys
  int cloud_shift = 0;     // compact key >> cloud_shift = cloud
};

Cells sort_points(const int64_t* grid, const int64_t* offset, int64_t n, int64_t clouds, const Divider& divide) {
  // Per cloud and axis extremes: within a cloud the key order only needs (x, y, z) order, so each
  // cloud's fields start at its own minimum and the fields need only the widest cloud's bits.
  std::vector<int64_t> lo(3 * clouds, 0), hi(3 * clouds, 0);
  int64_t low = grid[0], high = grid[0];
  for (int64_t b = 0; b < clouds; ++b) {
    const int64_t start = cloud_start(offset, b);
    if (start == offset[b]) continue;
    int64_t* l = lo.data() + 3 * b;
    int64_t* h = hi.data() + 3 * b;
    for (int a = 0; a < 3; ++a) l[a] = h[a] = grid[start * 3 + a];
    for (int64_t i = start; i < offset[b]; ++i) {
      for (int a = 0; a < 3; ++a) {
        l[a] = std::min(l[a], grid[i * 3 + a]);
        h[a] = std::max(h[a], grid[i * 3 + a]);
      }
    }
    low = std::min({low, l[0], l[1], l[2]});
    high = std::max({high, h[0], h[1], h[2]});
  }
  check_grid_range(low, high);
  int width[3] = {0, 0, 0};
  for (int64_t b = 0; b < clouds; ++b) {
    for (int a = 0; a < 3; ++a) {
      // Floor division is monotonic, so the extremes of the cells are the cells of the extremes.
      lo[3 * b + a] = divide(lo[3 * b + a]);
      width[a] = std::max(width[a], bit_width(divide(hi[3 * b + a]) - lo[3 * b + a]));
    }
  }
  Cells cells;
  cells.cloud_shift = width[0] + width[1] + width[2];
  Buffer<uint64_t>(n).swap(cells.key);
  Buffer<int64_t>(n).swap(cells.order);
  at::parallel_for(0, n, kLightPassRows, [&](int64_t begin, int64_t end) {
    int64_t b = cloud_of_row(offset, clouds, begin);
    for (int64_t i = begin; i < end; ++i) {
      while (offset[b] <= i) ++b;
      uint64_t key = static_cast<uint64_t>(b);
      for (int a = 0; a < 3; ++a) {
        key = (key << width[a]) | static_cast<uint64_t>(divide(grid[i * 3 + a]) - lo[3 * b + a]);
      }
      cells.key[i] = key;
      cells.order[i] = i;
    }
  });
  radix_sort_pairs(cells.key, cells.order, cells.cloud_shift + bit_width(clouds - 1));
  return cells;
}

// idx_ptr [M + 1] of the runs of equal keys, built with a chunked parallel scan of run heads.
at::Tensor segment(const Buffer<uint64_t>& key, const at::TensorOptions& index) {
  const int64_t n = key.size();
  const int64_t chunks = (n + kChunkRows - 1) / kChunkRows;
  std::vector<int64_t> first(chunks + 1, 0);
  auto is_head = [&](int64_t i) { return i == 0 || key[i] != key[i - 1]; };
  const int64_t grain = kLightPassRows / kChunkRows;
  at::parallel_for(0, chunks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      int64_t count = 0;
      for (int64_t i = c * kChunkRows, e = std::min(n, (c + 1) * kChunkRows); i < e; ++i) count += is_head(i);
      first[c + 1] = count;
    }
  });
  for (int64_t c = 0; c < chunks; ++c) first[c + 1] += first[c];
  at::Tensor idx_ptr_tensor = cpu::empty({first[chunks] + 1}, index);
  int64_t* idx_ptr = idx_ptr_tensor.data_ptr<int64_t>();
  idx_ptr[first[chunks]] = n;
  at::parallel_for(0, chunks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      int64_t m = first[c];
      for (int64_t i = c * kChunkRows, e = std::min(n, (c + 1) * kChunkRows); i < e; ++i) {
        if (is_head(i)) idx_ptr[m++] = i;
      }
    }
  });
  return idx_ptr_tensor;
}

template <typename scalar_t>
using acc_type_t = std::conditional_t<std::is_same<scalar_t, double>::value, double, float>;

// Rows are visited in key order, i.e. at random in memory: fetch a few cells ahead.
constexpr int64_t kPrefetchRows = 16;

inline void prefetch_row(const void* row) {
#if defined(__GNUC__)
  __builtin_prefetch(row);
#endif
}

// Channels are reduced in blocks of kBlock held in local arrays, so that the compiler knows they
// do not alias the input and vectorises the compare/select across the block. GCC would fully unroll
// these short loops first and then fail to vectorise the unrolled selects, hence the pragma.
constexpr int64_t kBlock = 16;
#if defined(__GNUC__) && !defined(__clang__)
#define DOS_VECTOR_LOOP _Pragma("GCC unroll 1")
#else
#define DOS_VECTOR_LOOP
#endif

// out[c0:c0+width] = max over the cell's rows (NaN propagates); arg (optional) = lowest row holding
// it. The running argmax is a 32-bit position in the cell so that it vectorises with the float
// compare; rows of a cell are in input order, so the strict compare keeps the lowest row.
template <typename scalar_t, int64_t kWidth>
DOS_ALWAYS_INLINE void max_block(const scalar_t* __restrict x, int64_t channels, int64_t c0, int64_t dynamic_width,
                                 const int64_t* order, int64_t first, int64_t last, scalar_t* __restrict out,
                                 int64_t* __restrict arg) {
  using acc_t = acc_type_t<scalar_t>;
  const int64_t width = kWidth > 0 ? kWidth : dynamic_width;
  acc_t best[kBlock];
  int32_t pos[kBlock];
  const scalar_t* __restrict r = x + order[first] * channels + c0;
  for (int64_t c = 0; c < width; ++c) {
    best[c] = static_cast<acc_t>(r[c]);
    pos[c] = 0;
  }
  for (int64_t j = first + 1; j < last; ++j) {
    r = x + order[j] * channels + c0;
    if (arg) {
      const int32_t here = static_cast<int32_t>(j - first);
      DOS_VECTOR_LOOP
      for (int64_t c = 0; c < width; ++c) {
        const acc_t v = static_cast<acc_t>(r[c]);
        const bool take = (v > best[c]) | ((v != v) & (best[c] == best[c]));
        best[c] = take ? v : best[c];
        pos[c] = take ? here : pos[c];
      }
    } else {
      DOS_VECTOR_LOOP
      for (int64_t c = 0; c < width; ++c) {
        const acc_t v = static_cast<acc_t>(r[c]);
        best[c] = ((v > best[c]) | (v != v)) ? v : best[c];
      }
    }
  }
  for (int64_t c = 0; c < width; ++c) out[c0 + c] = static_cast<scalar_t>(best[c]);
  if (arg) {
    for (int64_t c = 0; c < width; ++c) arg[c0 + c] = order[first + pos[c]];
  }
}

template <typename scalar_t, int64_t kWidth>
DOS_ALWAYS_INLINE void mean_block(const scalar_t* __restrict x, int64_t channels, int64_t c0, int64_t dynamic_width,
                                  const int64_t* order, int64_t first, int64_t last, scalar_t* __restrict out) {
  using acc_t = acc_type_t<scalar_t>;
  const int64_t width = kWidth > 0 ? kWidth : dynamic_width;
  acc_t sum[kBlock] = {};
  for (int64_t j = first; j < last; ++j) {
    const scalar_t* __restrict r = x + order[j] * channels + c0;
    DOS_VECTOR_LOOP
    for (int64_t c = 0; c < width; ++c) sum[c] += static_cast<acc_t>(r[c]);
  }
  const acc_t inv = acc_t(1) / static_cast<acc_t>(last - first);
  for (int64_t c = 0; c < width; ++c) out[c0 + c] = static_cast<scalar_t>(sum[c] * inv);
}

// Reduces cells [begin, end) of x [N, C] into out [M, C] (max with optional argmax, or mean).
template <typename scalar_t>
void segment_reduce(const scalar_t* x, int64_t channels, const int64_t* order, const int64_t* idx_ptr, int64_t begin,
                    int64_t end, int64_t rows, bool max, scalar_t* out, int64_t* argmax) {
  for (int64_t m = begin; m < end; ++m) {
    const int64_t first = idx_ptr[m], last = idx_ptr[m + 1];
    for (int64_t j = first; j < last && j + kPrefetchRows < rows; ++j) {
      prefetch_row(x + order[j + kPrefetchRows] * channels);
    }
    scalar_t* o = out + m * channels;
    int64_t* a = argmax ? argmax + m * channels : nullptr;
    int64_t c0 = 0;
    for (; c0 + kBlock <= channels; c0 += kBlock) {
      if (max) {
        max_block<scalar_t, kBlock>(x, channels, c0, kBlock, order, first, last, o, a);
      } else {
        mean_block<scalar_t, kBlock>(x, channels, c0, kBlock, order, first, last, o);
      }
    }
    if (c0 < channels) {
      if (max) {
        max_block<scalar_t, 0>(x, channels, c0, channels - c0, order, first, last, o, a);
      } else {
        mean_block<scalar_t, 0>(x, channels, c0, channels - c0, order, first, last, o);
      }
    }
  }
}

// Reduces cells [begin, end) of x into out.
void reduce_cells(const at::Tensor& x, const Buffer<int64_t>& order, const int64_t* idx_ptr, bool max,
                  const at::Tensor& out, int64_t* argmax, int64_t begin, int64_t end) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "grid_pool_cpu", [&] {
    segment_reduce(x.data_ptr<scalar_t>(), x.size(1), order.data(), idx_ptr, begin, end, x.size(0), max,
                   out.data_ptr<scalar_t>(), argmax);
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> grid_pool(
    const at::Tensor& grid_in, const at::Tensor& offset_in, const at::Tensor& feat_in, const at::Tensor& coord_in,
    int64_t stride, c10::string_view reduce, bool with_argmax) {
  check_grid_pool(grid_in, offset_in, feat_in, coord_in, stride, reduce);
  const int64_t n = grid_in.size(0), clouds = offset_in.size(0);
  const at::Tensor grid = grid_in.contiguous(), offset = offset_in.contiguous();
  const at::Tensor feat = feat_in.contiguous(), coord = coord_in.contiguous();
  const int64_t channels = feat.size(1);
  const bool max = reduce == "max";
  const auto index = offset.options();
  if (n == 0) {
    return {at::empty({0, channels}, feat.options()), at::empty({0, 3}, coord.options()), at::empty({0, 3}, index),
            at::empty({0}, index), at::zeros({1}, index), at::empty({0}, index), at::zeros({clouds}, index),
            at::empty({0, channels}, index)};
  }

  const Divider divide(stride);
  Cells sorted = sort_points(grid.data_ptr<int64_t>(), offset.data_ptr<int64_t>(), n, clouds, divide);
  at::Tensor idx_ptr = segment(sorted.key, index);
  const int64_t cells = idx_ptr.size(0) - 1;
  const int64_t* ptr = idx_ptr.data_ptr<int64_t>();

  at::Tensor cluster = cpu::empty({n}, index), head = cpu::empty({cells}, index);
  at::Tensor pooled_grid = cpu::empty({cells, 3}, index), new_offset = at::empty({clouds}, index);
  at::Tensor pooled = cpu::empty({cells, channels}, feat.options());
  at::Tensor argmax = cpu::empty({max && with_argmax ? cells : 0, channels}, index);
  at::Tensor pooled_coord = cpu::empty({cells, 3}, coord.options());
  int64_t* cl = cluster.data_ptr<int64_t>();
  int64_t* hd = head.data_ptr<int64_t>();
  int64_t* pg = pooled_grid.data_ptr<int64_t>();
  int64_t* arg = argmax.size(0) ? argmax.data_ptr<int64_t>() : nullptr;
  const int64_t* g = grid.data_ptr<int64_t>();
  // One parallel region for all per-cell work (see parallel.h).
  at::parallel_for(0, cells, 64, [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m) {
      hd[m] = sorted.order[ptr[m]];
      for (int a = 0; a < 3; ++a) pg[m * 3 + a] = divide(g[hd[m] * 3 + a]);
      for (int64_t j = ptr[m]; j < ptr[m + 1]; ++j) cl[sorted.order[j]] = m;
    }
    reduce_cells(feat, sorted.order, ptr, max, pooled, arg, begin, end);
    reduce_cells(coord, sorted.order, ptr, false, pooled_coord, nullptr, begin, end);
  });
  // Cells are sorted by cloud: new_offset[b] = number of cells of clouds <= b.
  for (int64_t b = 0; b < clouds; ++b) {
    int64_t lo = 0, hi = cells;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (static_cast<int64_t>(sorted.key[ptr[mid]] >> sorted.cloud_shift) <= b) lo = mid + 1; else hi = mid;
    }
    new_offset.data_ptr<int64_t>()[b] = lo;
  }
  return {pooled, pooled_coord, pooled_grid, cluster, idx_ptr, head, new_offset, argmax};
}

at::Tensor grid_pool_max_backward(const at::Tensor& grad_in, const at::Tensor& argmax_in, int64_t num_rows) {
  check_grid_pool_max_backward(grad_in, argmax_in);
  const at::Tensor grad = grad_in.contiguous(), argmax = argmax_in.contiguous();
  const int64_t cells = grad.size(0), channels = grad.size(1);
  at::Tensor out = cpu::empty({num_rows, channels}, grad.options());
  out.zero_();
  const int64_t* arg = argmax.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "grid_pool_max_backward", [&] {
    const scalar_t* g = grad.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    // Every input row belongs to one cell, so distinct cells never write the same element.
    at::parallel_for(0, cells, 256, [&](int64_t begin, int64_t end) {
      for (int64_t m = begin; m < end; ++m) {
        for (int64_t c = 0; c < channels; ++c) o[arg[m * channels + c] * channels + c] = g[m * channels + c];
      }
    });
  });
  return out;
}

at::Tensor grid_pool_mean_backward(const at::Tensor& grad_in, const at::Tensor& cluster_in,
                                   const at::Tensor& idx_ptr_in) {
  check_grid_pool_mean_backward(grad_in, cluster_in, idx_ptr_in);
  const at::Tensor grad = grad_in.contiguous(), cluster = cluster_in.contiguous(), idx_ptr = idx_ptr_in.contiguous();
  const int64_t n = cluster.size(0), channels = grad.size(1);
  at::Tensor out = cpu::empty({n, channels}, grad.options());
  const int64_t* cl = cluster.data_ptr<int64_t>();
  const int64_t* ptr = idx_ptr.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "grid_pool_mean_backward", [&] {
    using acc_t = acc_type_t<scalar_t>;
    const scalar_t* g = grad.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, n, 1024, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const int64_t m = cl[i];
        const acc_t inv = acc_t(1) / static_cast<acc_t>(ptr[m + 1] - ptr[m]);
        for (int64_t c = 0; c < channels; ++c) {
          o[i * channels + c] = static_cast<scalar_t>(static_cast<acc_t>(g[m * channels + c]) * inv);
        }
      }
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(dos_ops, CPU, m) {
  m.impl("grid_pool", &grid_pool);
  m.impl("grid_pool_max_backward", &grid_pool_max_backward);
  m.impl("grid_pool_mean_backward", &grid_pool_mean_backward);
}

}  // namespace cpu
}  // namespace dos_ops
