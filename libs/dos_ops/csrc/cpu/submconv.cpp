// CPU 3x3x3 submanifold convolution.
//
// Neighbours: one packed (cloud, x, y, z) key per row, stable radix sort, then for every row and tap
// the row holding key + tap offset. Within a tap the shifted keys of in-range cells are increasing
// in the sorted order (adding a constant to fields that stay inside 16 bits never carries), so each
// chunk of sorted rows finds its first match per tap by binary search and then only walks forward.
//
// Convolution: output rows are cut into blocks (one thread each) whose accumulators stay in L2, and
// for every tap only the block's rows that have a neighbour there are multiplied (a scan's voxels
// have about 5 of 27 neighbours; a dense 27-tap GEMM would do 5x the work). Within a block every row
// appears at most once per tap, so the accumulations never collide. float32 multiplies each pair
// with a register-tiled micro-kernel reading the neighbour row in place (four pairs at a time, built
// for AVX-512 and AVX2 too); other dtypes gather the tap's rows into a compact matrix, run one GEMM
// and add the products. The backward pass is scatter-free: grad_feat runs the same loop over the
// mirrored taps (the transposed table, see common/submconv.h) with the untransposed weights, and
// grad_weight[k] = sum over pairs of grad row^T feature row, accumulated per thread in float
// (double for double) and merged once.
#include <ATen/core/Tensor.h>
#include <ATen/ops/aminmax.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <vector>

#include "../checks.h"
#include "../common/grid_key.h"
#include "../common/offsets.h"
#include "../common/submconv.h"
#include "memory.h"
#include "parallel.h"
#include "radix_sort.h"
#include "vector_math.h"  // DOS_ALWAYS_INLINE

namespace dos_ops {
namespace cpu {
namespace {

// Sorted rows per lookup chunk (each chunk pays 27 binary searches).
constexpr int64_t kLookupChunk = 4096;
// Bytes of one block's output rows (accumulated in place) and of one tap's gathered rows: a
// quarter of a 1-2 MB L2 each. Blocks are big enough that each tap's GEMM has a few hundred rows.
constexpr int64_t kBlockBytes = int64_t{1} << 18;
constexpr int64_t kMinBlockRows = 256;
constexpr int64_t kMaxBlockRows = 4096;
constexpr int64_t kWeightBlocks = 4;

int bit_width(int64_t x) {
  int bits = 0;
  while ((x >> bits) != 0) ++bits;
  return bits;
}

at::Tensor submconv_neighbours(const at::Tensor& grid_in, const at::Tensor& offset_in) {
  check_submconv_neighbours(grid_in, offset_in);
  const at::Tensor grid = grid_in.contiguous(), offset = offset_in.contiguous();
  const int64_t n = grid.size(0), clouds = offset.size(0);
  at::Tensor out = cpu::empty({n, kTaps}, offset.options());
  if (n == 0) return out;
  const int64_t* g = grid.data_ptr<int64_t>();
  const int64_t* off = offset.data_ptr<int64_t>();
  const auto [lo, hi] = at::aminmax(grid);
  check_grid_range(lo.item<int64_t>(), hi.item<int64_t>());

  Buffer<uint64_t> key(n);
  Buffer<int64_t> order(n);
  at::parallel_for(0, n, kLightPassRows, [&](int64_t begin, int64_t end) {
    int64_t b = cloud_of_row(off, clouds, begin);
    for (int64_t i = begin; i < end; ++i) {
      while (off[b] <= i) ++b;
      key[i] = static_cast<uint64_t>(pack_cell_key(b, g + 3 * i, 1));
      order[i] = i;
    }
  });
  radix_sort_pairs(key, order, kCloudShift + bit_width(clouds - 1));

  int64_t* nbr = out.data_ptr<int64_t>();
  at::parallel_for(0, n, kLookupChunk, [&](int64_t begin, int64_t end) {
    int64_t pos[kTaps];
    bool started[kTaps] = {};
    for (int64_t s = begin; s < end; ++s) {
      const int64_t row = order[s];
      const int64_t cloud = static_cast<int64_t>(key[s] >> kCloudShift);
      int64_t* o = nbr + row * kTaps;
      for (int tap = 0; tap < kTaps; ++tap) {
        const int64_t shifted = tap_key(cloud, g + 3 * row, tap);
        if (shifted < 0) {
          o[tap] = -1;
          continue;
        }
        const uint64_t target = static_cast<uint64_t>(shifted);
        int64_t p;
        if (!started[tap]) {
          p = lower_bound(key.data(), n, target);
          started[tap] = true;
        } else {
          p = pos[tap];
          while (p < n && key[p] < target) ++p;
        }
        pos[tap] = p;
        o[tap] = p < n && key[p] == target ? order[p] : -1;
      }
    }
  });
  return out;
}

// Rows of one block: r0 + rows[m] for m < count has a neighbour src[m] at `tap`.
struct TapRows {
  int64_t count = 0;
  int64_t* rows = nullptr;
  int64_t* src = nullptr;
};

TapRows tap_rows(const int64_t* nbr, int64_t r0, int64_t rows, int tap, int64_t* rows_buf, int64_t* src_buf) {
  TapRows t{0, rows_buf, src_buf};
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t j = nbr[(r0 + r) * kTaps + tap];
    if (j >= 0) {
      rows_buf[t.count] = r;
      src_buf[t.count++] = j;
    }
  }
  return t;
}

// dst[m] = x[index[m]] for m < count (rows of `channels`).
template <typename scalar_t>
void gather_rows(const scalar_t* x, int64_t channels, const int64_t* index, int64_t count, scalar_t* dst) {
  const size_t bytes = sizeof(scalar_t) * static_cast<size_t>(channels);
  for (int64_t m = 0; m < count; ++m) std::memcpy(dst + m * channels, x + index[m] * channels, bytes);
}

// out[index[m]] += y[m] for m < count; out holds float (double for double) accumulators.
template <typename scalar_t, typename acc_t>
void add_rows(const scalar_t* y, int64_t channels, const int64_t* index, int64_t count, acc_t* out) {
  for (int64_t m = 0; m < count; ++m) {
    const scalar_t* __restrict src = y + m * channels;
    acc_t* __restrict dst = out + index[m] * channels;
    for (int64_t c = 0; c < channels; ++c) dst[c] += static_cast<acc_t>(src[c]);
  }
}

// float32 fast path: acc[dst[m]] += x[src[m]] @ w for m < count, w [c_in, c_out] row-major (one
// tap, a few KB: stays in L1). A row times a small matrix straight from and into the caches, with
// no gathered copy and no GEMM call; the output is tiled by kTile columns held in registers. Built
// for AVX-512 and AVX2 as well (GCC target_clones), chosen at load time by the CPU.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define DOS_SUBMCONV_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DOS_SUBMCONV_CLONES
#endif
constexpr int64_t kTile = 32;
constexpr int64_t kPrefetchRows = 8;

// kRows pairs at a time share every weight load and give kRows x kTile / vector width independent
// FMA chains (one row alone would wait on the FMA latency).
template <int64_t kRows>
DOS_ALWAYS_INLINE void rows_times_weight(const float* __restrict x, int64_t c_in, const int64_t* src,
                                         const int64_t* dst, const float* __restrict w, int64_t c_out,
                                         float* __restrict acc) {
  const float* row[kRows];
  float* a[kRows];
  for (int64_t i = 0; i < kRows; ++i) {
    row[i] = x + src[i] * c_in;
    a[i] = acc + dst[i] * c_out;
  }
  int64_t co0 = 0;
  for (; co0 + kTile <= c_out; co0 += kTile) {
    float tile[kRows][kTile];
    for (int64_t i = 0; i < kRows; ++i) {
      for (int64_t c = 0; c < kTile; ++c) tile[i][c] = a[i][co0 + c];
    }
    for (int64_t ci = 0; ci < c_in; ++ci) {
      const float* __restrict wr = w + ci * c_out + co0;
      for (int64_t i = 0; i < kRows; ++i) {
        const float v = row[i][ci];
        for (int64_t c = 0; c < kTile; ++c) tile[i][c] += v * wr[c];
      }
    }
    for (int64_t i = 0; i < kRows; ++i) {
      for (int64_t c = 0; c < kTile; ++c) a[i][co0 + c] = tile[i][c];
    }
  }
  for (; co0 < c_out; ++co0) {
    for (int64_t i = 0; i < kRows; ++i) {
      float sum = a[i][co0];
      for (int64_t ci = 0; ci < c_in; ++ci) sum += row[i][ci] * w[ci * c_out + co0];
      a[i][co0] = sum;
    }
  }
}

DOS_SUBMCONV_CLONES
void add_rows_times_weight(const float* __restrict x, int64_t c_in, const int64_t* src, const int64_t* dst,
                           int64_t count, const float* __restrict w, int64_t c_out, float* __restrict acc) {
  constexpr int64_t kRows = 4;
  int64_t m = 0;
  for (; m + kRows <= count; m += kRows) {
    // Neighbour rows are scattered over x: fetch a few ahead, every cache line of the row.
    for (int64_t i = m + kPrefetchRows; i < std::min(count, m + kPrefetchRows + kRows); ++i) {
      const char* ahead = reinterpret_cast<const char*>(x + src[i] * c_in);
      for (int64_t byte = 0; byte < c_in * 4; byte += 64) __builtin_prefetch(ahead + byte);
    }
    rows_times_weight<kRows>(x, c_in, src + m, dst + m, w, c_out, acc);
  }
  for (; m < count; ++m) rows_times_weight<1>(x, c_in, src + m, dst + m, w, c_out, acc);
}

// float32 grad_weight of one tap: gw [c_out, c_in] += sum_m g[gi[m]]^T x[xj[m]]. Tiles of 4 output x
// kTile input channels stay in registers over all pairs; no gathered copies.
DOS_SUBMCONV_CLONES
void add_outer_products(const float* __restrict g, int64_t c_out, const int64_t* gi, const float* __restrict x,
                        int64_t c_in, const int64_t* xj, int64_t count, float* __restrict gw) {
  constexpr int64_t kCo = 4;
  int64_t co0 = 0;
  for (; co0 + kCo <= c_out; co0 += kCo) {
    int64_t ci0 = 0;
    for (; ci0 + kTile <= c_in; ci0 += kTile) {
      float tile[kCo][kTile];
      for (int64_t i = 0; i < kCo; ++i) {
        for (int64_t c = 0; c < kTile; ++c) tile[i][c] = gw[(co0 + i) * c_in + ci0 + c];
      }
      for (int64_t m = 0; m < count; ++m) {
        if (m + kPrefetchRows < count) __builtin_prefetch(x + xj[m + kPrefetchRows] * c_in + ci0);
        const float* __restrict xr = x + xj[m] * c_in + ci0;
        const float* __restrict gr = g + gi[m] * c_out + co0;
        for (int64_t i = 0; i < kCo; ++i) {
          const float v = gr[i];
          for (int64_t c = 0; c < kTile; ++c) tile[i][c] += v * xr[c];
        }
      }
      for (int64_t i = 0; i < kCo; ++i) {
        for (int64_t c = 0; c < kTile; ++c) gw[(co0 + i) * c_in + ci0 + c] = tile[i][c];
      }
    }
    for (; ci0 < c_in; ++ci0) {
      for (int64_t i = 0; i < kCo; ++i) {
        float sum = gw[(co0 + i) * c_in + ci0];
        for (int64_t m = 0; m < count; ++m) sum += g[gi[m] * c_out + co0 + i] * x[xj[m] * c_in + ci0];
        gw[(co0 + i) * c_in + ci0] = sum;
      }
    }
  }
  for (; co0 < c_out; ++co0) {
    for (int64_t ci = 0; ci < c_in; ++ci) {
      float sum = gw[co0 * c_in + ci];
      for (int64_t m = 0; m < count; ++m) sum += g[gi[m] * c_out + co0] * x[xj[m] * c_in + ci];
      gw[co0 * c_in + ci] = sum;
    }
  }
}

// out[r0 + r] (+)= sum over taps of x[nbr[r0 + r, tap']] @ w[tap] for the block's rows, tap' = tap or
// its mirror; w [27, c_in, c_out]. Rows without any neighbour get `init` (bias or zeros).
void float_block(const float* x, int64_t c_in, const int64_t* nbr, int64_t r0, int64_t rows, bool mirrored,
                 const float* w, int64_t c_out, const float* init, float* out, int64_t* rows_buf, int64_t* src_buf) {
  float* block = out + r0 * c_out;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < c_out; ++c) block[r * c_out + c] = init ? init[c] : 0.0f;
  }
  for (int tap = 0; tap < kTaps; ++tap) {
    const TapRows t = tap_rows(nbr, r0, rows, mirrored ? mirror_tap(tap) : tap, rows_buf, src_buf);
    if (t.count > 0) add_rows_times_weight(x, c_in, t.src, t.rows, t.count, w + tap * c_in * c_out, c_out, block);
  }
}

template <typename scalar_t>
using acc_type_t = std::conditional_t<std::is_same<scalar_t, double>::value, double, float>;

// Output rows per block: the block's accumulators and one tap's gathered rows stay in L2.
int64_t block_rows(int64_t channels, int64_t element_size) {
  return std::clamp(kBlockBytes / std::max<int64_t>(channels * element_size, 1), kMinBlockRows, kMaxBlockRows);
}

at::Tensor submconv(const at::Tensor& feat_in, const at::Tensor& weight_in, const std::optional<at::Tensor>& bias,
                    const at::Tensor& nbr_in) {
  check_submconv(feat_in, weight_in, bias, nbr_in);
  const at::Tensor feat = feat_in.contiguous(), nbr_t = nbr_in.contiguous();
  const int64_t n = feat.size(0), c_in = feat.size(1), c_out = weight_in.size(0);
  at::Tensor out = cpu::empty({n, c_out}, feat.options());
  if (n == 0) return out;
  const at::Tensor weight = weight_in.reshape({c_out, kTaps, c_in});
  const int64_t* nbr = nbr_t.data_ptr<int64_t>();
  const int64_t rows_per_block = block_rows(std::max(c_in, c_out), feat.element_size());
  const int64_t blocks = (n + rows_per_block - 1) / rows_per_block;
  if (feat.scalar_type() == at::kFloat) {
    // [27, C_in, C_out]: tap k's weight transposed.
    const at::Tensor w = weight.permute({1, 2, 0}).contiguous();
    const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
    at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
      std::vector<int64_t> rows_buf(rows_per_block), src_buf(rows_per_block);
      for (int64_t blk = begin; blk < end; ++blk) {
        const int64_t r0 = blk * rows_per_block;
        float_block(feat.data_ptr<float>(), c_in, nbr, r0, std::min(rows_per_block, n - r0), false,
                    w.data_ptr<float>(), c_out, b.defined() ? b.data_ptr<float>() : nullptr, out.data_ptr<float>(),
                    rows_buf.data(), src_buf.data());
      }
    });
    return out;
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, feat.scalar_type(), "submconv_cpu", [&] {
    using acc_t = acc_type_t<scalar_t>;
    const scalar_t* x = feat.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::Tensor bias_acc = bias.has_value() ? bias->to(c10::CppTypeToScalarType<acc_t>::value).contiguous()
                                           : at::Tensor();
    at::parallel_for(0, (n + rows_per_block - 1) / rows_per_block, 1, [&](int64_t begin, int64_t end) {
      std::vector<int64_t> rows_buf(rows_per_block), src_buf(rows_per_block);
      std::vector<acc_t> acc(rows_per_block * c_out);
      at::Tensor gathered = at::empty({rows_per_block, c_in}, feat.options());
      at::Tensor product = at::empty({rows_per_block, c_out}, feat.options());
      for (int64_t b = begin; b < end; ++b) {
        const int64_t r0 = b * rows_per_block, rows = std::min(rows_per_block, n - r0);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t c = 0; c < c_out; ++c) acc[r * c_out + c] = bias.has_value() ? bias_acc.data_ptr<acc_t>()[c] : 0;
        }
        for (int tap = 0; tap < kTaps; ++tap) {
          const TapRows t = tap_rows(nbr, r0, rows, tap, rows_buf.data(), src_buf.data());
          if (t.count == 0) continue;
          gather_rows(x, c_in, t.src, t.count, gathered.data_ptr<scalar_t>());
          at::Tensor y = product.narrow(0, 0, t.count);
          at::mm_out(y, gathered.narrow(0, 0, t.count), weight.select(1, tap).t());
          add_rows(y.data_ptr<scalar_t>(), c_out, t.rows, t.count, acc.data());
        }
        for (int64_t i = 0; i < rows * c_out; ++i) o[r0 * c_out + i] = static_cast<scalar_t>(acc[i]);
      }
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> submconv_backward(const at::Tensor& grad_in, const at::Tensor& feat_in,
                                                     const at::Tensor& weight_in, const at::Tensor& nbr_in,
                                                     bool feat_grad, bool weight_grad) {
  check_submconv_backward(grad_in, feat_in, weight_in, nbr_in);
  const at::Tensor grad = grad_in.contiguous(), feat = feat_in.contiguous(), nbr_t = nbr_in.contiguous();
  const int64_t n = feat.size(0), c_in = feat.size(1), c_out = weight_in.size(0);
  const auto acc_type = feat.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor grad_feat = feat_grad ? cpu::empty({n, c_in}, feat.options()) : at::empty({0, c_in}, feat.options());
  // [27, C_out, C_in] accumulators of grad_weight, tap-major so each tap's slice is contiguous.
  at::Tensor grad_weight_acc =
      weight_grad ? at::zeros({kTaps, c_out, c_in}, feat.options().dtype(acc_type)) : at::Tensor();
  const at::Tensor weight = weight_in.reshape({c_out, kTaps, c_in});
  const int64_t* nbr = nbr_t.data_ptr<int64_t>();
  const int64_t rows_per_block = block_rows(std::max(c_in, c_out), feat.element_size());
  std::mutex merge;
  // float32 grad_feat: [27, C_out, C_in], tap k's weight as it is (see float_block).
  const at::Tensor weight_taps = feat_grad && feat.scalar_type() == at::kFloat
                                     ? weight.permute({1, 0, 2}).contiguous()
                                     : at::Tensor();
  if (n > 0 && (feat_grad || weight_grad)) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, feat.scalar_type(), "submconv_backward_cpu", [&] {
      using acc_t = acc_type_t<scalar_t>;
      const scalar_t* x = feat.data_ptr<scalar_t>();
      const scalar_t* g = grad.data_ptr<scalar_t>();
      // grad_weight's GEMMs run over kWeightBlocks blocks at once, so that their inner dimension
      // (the rows with a neighbour at a tap) is a few thousand rather than a few hundred.
      const int64_t big = rows_per_block * kWeightBlocks;
      at::parallel_for(0, (n + big - 1) / big, 1, [&](int64_t begin, int64_t end) {
        std::vector<int64_t> rows_buf(big), src_buf(big), at_rows(big);
        std::vector<acc_t> acc(feat_grad ? rows_per_block * c_in : 0);
        at::Tensor gathered_grad = at::empty({big, c_out}, feat.options());
        at::Tensor gathered_feat = weight_grad ? at::empty({big, c_in}, feat.options()) : at::Tensor();
        at::Tensor product = at::empty({rows_per_block, c_in}, feat.options());
        at::Tensor local = weight_grad ? at::zeros_like(grad_weight_acc) : at::Tensor();
        for (int64_t b = begin; b < end; ++b) {
          const int64_t b0 = b * big, b_rows = std::min(big, n - b0);
          for (int64_t r0 = b0; feat_grad && r0 < b0 + b_rows; r0 += rows_per_block) {
          const int64_t rows = std::min(rows_per_block, b0 + b_rows - r0);
          if (weight_taps.defined()) {
            float_block(reinterpret_cast<const float*>(g), c_out, nbr, r0, rows, true,
                        weight_taps.data_ptr<float>(), c_in, nullptr, grad_feat.data_ptr<float>(), rows_buf.data(),
                        src_buf.data());
          } else {
            // grad_feat[q] = sum_k W_k^T grad[nbr[q, 26 - k]]: the transposed table is the mirrored one.
            std::fill(acc.begin(), acc.begin() + rows * c_in, acc_t(0));
            for (int tap = 0; tap < kTaps; ++tap) {
              const TapRows t = tap_rows(nbr, r0, rows, mirror_tap(tap), rows_buf.data(), src_buf.data());
              if (t.count == 0) continue;
              gather_rows(g, c_out, t.src, t.count, gathered_grad.data_ptr<scalar_t>());
              at::Tensor y = product.narrow(0, 0, t.count);
              at::mm_out(y, gathered_grad.narrow(0, 0, t.count), weight.select(1, tap));
              add_rows(y.data_ptr<scalar_t>(), c_in, t.rows, t.count, acc.data());
            }
            scalar_t* o = grad_feat.data_ptr<scalar_t>() + r0 * c_in;
            for (int64_t i = 0; i < rows * c_in; ++i) o[i] = static_cast<scalar_t>(acc[i]);
          }
          }
          if (weight_grad) {
            // grad_W_k += grad[rows with a neighbour at k]^T @ feat[their neighbours].
            for (int tap = 0; tap < kTaps; ++tap) {
              const TapRows t = tap_rows(nbr, b0, b_rows, tap, rows_buf.data(), src_buf.data());
              if (t.count == 0) continue;
              for (int64_t m = 0; m < t.count; ++m) at_rows[m] = b0 + t.rows[m];
              if (feat.scalar_type() == at::kFloat) {
                add_outer_products(reinterpret_cast<const float*>(g), c_out, at_rows.data(),
                                   reinterpret_cast<const float*>(x), c_in, t.src, t.count,
                                   local.data_ptr<float>() + tap * c_out * c_in);
                continue;
              }
              gather_rows(g, c_out, at_rows.data(), t.count, gathered_grad.data_ptr<scalar_t>());
              gather_rows(x, c_in, t.src, t.count, gathered_feat.data_ptr<scalar_t>());
              const at::Tensor grad_t = gathered_grad.narrow(0, 0, t.count).t();
              const at::Tensor feat_rows = gathered_feat.narrow(0, 0, t.count);
              at::Tensor slot = local.select(0, tap);
              if (feat.scalar_type() == acc_type) {
                slot.addmm_(grad_t, feat_rows);
              } else {
                slot.add_(at::mm(grad_t, feat_rows));
              }
            }
          }
        }
        if (weight_grad) {
          const std::lock_guard<std::mutex> lock(merge);
          grad_weight_acc.add_(local);
        }
      });
    });
  }
  at::Tensor grad_weight = weight_grad ? grad_weight_acc.permute({1, 0, 2}).to(feat.scalar_type()).contiguous()
                                             .view(weight_in.sizes())
                                       : at::empty({0}, feat.options());
  return {grad_feat, grad_weight};
}

}  // namespace

TORCH_LIBRARY_IMPL(dos_ops, CPU, m) {
  m.impl("submconv_neighbours", &submconv_neighbours);
  m.impl("submconv", &submconv);
  m.impl("submconv_backward", &submconv_backward);
}

}  // namespace cpu
}  // namespace dos_ops
