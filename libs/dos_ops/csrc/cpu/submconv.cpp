// CPU 3x3x3 submanifold convolution.
//
// Neighbours: one packed (cloud, x, y, z) key per row, stable radix sort, then for every row and tap
// the row holding key + tap offset. Within a tap the shifted keys of in-range cells are increasing
// in the sorted order (adding a constant to fields that stay inside 16 bits never carries), so each
// chunk of sorted rows finds its first match per tap by binary search and then only walks forward.
//
// Convolution: rows are cut into blocks; a thread gathers the 27 neighbour rows of each of its
// block's rows into one [rows, 27 C_in] matrix (zeros for missing neighbours) that stays in its L2
// cache, and multiplies it with the weight viewed as [C_out, 27 C_in] in a single GEMM. The backward
// pass is scatter-free: grad_feat gathers grad rows through the same table and multiplies by the
// weight with mirrored taps (see common/submconv.h); grad_weight is the sum over blocks of
// grad_block^T @ gathered_block, accumulated per thread in float (double for double).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "../checks.h"
#include "../common/grid_key.h"
#include "../common/offsets.h"
#include "../common/submconv.h"
#include "memory.h"
#include "parallel.h"
#include "radix_sort.h"

namespace dos_ops {
namespace cpu {
namespace {

// Sorted rows per lookup chunk (each chunk pays 27 binary searches).
constexpr int64_t kLookupChunk = 4096;
// Target size of one thread's gathered block: half of this machine class's 1-2 MB L2, leaving room
// for the weight panel the GEMM streams.
constexpr int64_t kGatherBytes = int64_t{1} << 19;
constexpr int64_t kMinBlockRows = 64;
constexpr int64_t kMaxBlockRows = 2048;

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

int64_t block_rows(int64_t row_bytes) {
  return std::clamp(kGatherBytes / std::max<int64_t>(row_bytes, 1), kMinBlockRows, kMaxBlockRows);
}

// dst [rows, 27 * channels] = x[nbr[r0 + r, k]] per tap k, zero where the neighbour is missing.
template <typename scalar_t>
void gather_block(const scalar_t* x, int64_t channels, const int64_t* nbr, int64_t r0, int64_t rows,
                  scalar_t* dst) {
  const size_t bytes = sizeof(scalar_t) * static_cast<size_t>(channels);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t* taps = nbr + (r0 + r) * kTaps;
    scalar_t* d = dst + r * kTaps * channels;
    for (int tap = 0; tap < kTaps; ++tap, d += channels) {
      const int64_t j = taps[tap];
      if (j >= 0) {
        std::memcpy(d, x + j * channels, bytes);
      } else {
        std::memset(d, 0, bytes);
      }
    }
  }
}

void gather(const at::Tensor& x, const int64_t* nbr, int64_t r0, int64_t rows, const at::Tensor& dst) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "submconv_gather", [&] {
    gather_block(x.data_ptr<scalar_t>(), x.size(1), nbr, r0, rows, dst.data_ptr<scalar_t>());
  });
}

at::Tensor submconv(const at::Tensor& feat_in, const at::Tensor& weight_in, const std::optional<at::Tensor>& bias,
                    const at::Tensor& nbr_in) {
  check_submconv(feat_in, weight_in, bias, nbr_in);
  const at::Tensor feat = feat_in.contiguous(), nbr_t = nbr_in.contiguous();
  const int64_t n = feat.size(0), c_in = feat.size(1), c_out = weight_in.size(0);
  at::Tensor out = cpu::empty({n, c_out}, feat.options());
  if (n == 0) return out;
  const at::Tensor weight_t = weight_in.reshape({c_out, kTaps * c_in}).t();  // [27 C_in, C_out]
  const int64_t* nbr = nbr_t.data_ptr<int64_t>();
  const int64_t rows_per_block = block_rows(kTaps * c_in * feat.element_size());
  const int64_t blocks = (n + rows_per_block - 1) / rows_per_block;
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    at::Tensor buffer = at::empty({rows_per_block, kTaps * c_in}, feat.options());
    for (int64_t b = begin; b < end; ++b) {
      const int64_t r0 = b * rows_per_block, rows = std::min(rows_per_block, n - r0);
      gather(feat, nbr, r0, rows, buffer);
      at::Tensor block_out = out.narrow(0, r0, rows);
      const at::Tensor gathered = buffer.narrow(0, 0, rows);
      if (bias.has_value()) {
        at::addmm_out(block_out, bias->expand({rows, c_out}), gathered, weight_t);
      } else {
        at::mm_out(block_out, gathered, weight_t);
      }
    }
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
  at::Tensor grad_weight_acc =
      weight_grad ? at::zeros({c_out, kTaps * c_in}, feat.options().dtype(acc_type)) : at::Tensor();
  if (n > 0 && (feat_grad || weight_grad)) {
    // [27 C_out, C_in]: row (k, co) holds W[co, 26 - k, :], the weight of the mirrored tap.
    const at::Tensor weight_mirrored =
        weight_in.reshape({c_out, kTaps, c_in}).flip({1}).permute({1, 0, 2}).reshape({kTaps * c_out, c_in});
    const int64_t* nbr = nbr_t.data_ptr<int64_t>();
    const int64_t rows_per_block = block_rows(kTaps * std::max(c_in, c_out) * feat.element_size());
    const int64_t blocks = (n + rows_per_block - 1) / rows_per_block;
    std::mutex merge;
    at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
      at::Tensor gathered_grad, gathered_feat, local;
      if (feat_grad) gathered_grad = at::empty({rows_per_block, kTaps * c_out}, grad.options());
      if (weight_grad) {
        gathered_feat = at::empty({rows_per_block, kTaps * c_in}, feat.options());
        local = at::zeros_like(grad_weight_acc);
      }
      for (int64_t b = begin; b < end; ++b) {
        const int64_t r0 = b * rows_per_block, rows = std::min(rows_per_block, n - r0);
        if (feat_grad) {
          gather(grad, nbr, r0, rows, gathered_grad);
          at::Tensor block_out = grad_feat.narrow(0, r0, rows);
          at::mm_out(block_out, gathered_grad.narrow(0, 0, rows), weight_mirrored);
        }
        if (weight_grad) {
          gather(feat, nbr, r0, rows, gathered_feat);
          const at::Tensor grad_t = grad.narrow(0, r0, rows).t();
          const at::Tensor block_feat = gathered_feat.narrow(0, 0, rows);
          if (feat.scalar_type() == acc_type) {
            local.addmm_(grad_t, block_feat);
          } else {
            local.add_(at::mm(grad_t, block_feat));
          }
        }
      }
      if (weight_grad) {
        const std::lock_guard<std::mutex> lock(merge);
        grad_weight_acc.add_(local);
      }
    });
  }
  at::Tensor grad_weight = weight_grad ? grad_weight_acc.to(feat.scalar_type()).view(weight_in.sizes())
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
