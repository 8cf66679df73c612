// CPU masked gather: chunked prefix sum of the keep mask, then every tensor is compacted by copying
// whole rows as bytes (dtype-generic), chunks in parallel.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cstring>
#include <vector>

#include "../checks.h"
#include "../common/offsets.h"
#include "memory.h"
#include "parallel.h"

namespace dos_ops {
namespace cpu {
namespace {

constexpr int64_t kChunkRows = 1 << 14;

template <int64_t kBytes>
void copy_rows_fixed(const char* src, char* dst, const int64_t* rows, int64_t count) {
  for (int64_t j = 0; j < count; ++j) std::memcpy(dst + j * kBytes, src + rows[j] * kBytes, kBytes);
}

// dst[j] = src[rows[j]] for rows of `bytes` bytes; small common sizes get inlined copies.
void copy_rows(const char* src, char* dst, const int64_t* rows, int64_t count, int64_t bytes) {
  switch (bytes) {
    case 1: return copy_rows_fixed<1>(src, dst, rows, count);
    case 2: return copy_rows_fixed<2>(src, dst, rows, count);
    case 4: return copy_rows_fixed<4>(src, dst, rows, count);
    case 8: return copy_rows_fixed<8>(src, dst, rows, count);
    case 12: return copy_rows_fixed<12>(src, dst, rows, count);
    case 16: return copy_rows_fixed<16>(src, dst, rows, count);
    case 24: return copy_rows_fixed<24>(src, dst, rows, count);
    default:
      for (int64_t j = 0; j < count; ++j) std::memcpy(dst + j * bytes, src + rows[j] * bytes, bytes);
  }
}

int64_t row_bytes(const at::Tensor& t) {
  return t.size(0) == 0 ? 0 : t.numel() / t.size(0) * static_cast<int64_t>(t.element_size());
}

at::Tensor empty_rows(const at::Tensor& like, int64_t rows) {
  std::vector<int64_t> shape = like.sizes().vec();
  shape[0] = rows;
  return cpu::empty(shape, like.options());
}

std::tuple<std::vector<at::Tensor>, at::Tensor, at::Tensor> masked_gather(const at::TensorList tensors_in,
                                                                          const at::Tensor& keep_in,
                                                                          const at::Tensor& offset_in) {
  check_masked_gather(tensors_in, keep_in, offset_in);
  const int64_t n = keep_in.size(0);
  std::vector<at::Tensor> tensors;
  for (const auto& t : tensors_in) tensors.push_back(t.contiguous());
  const at::Tensor keep = keep_in.contiguous();
  const at::Tensor offset = offset_in.contiguous();
  const bool* k = keep.data_ptr<bool>();

  const int64_t chunks = (n + kChunkRows - 1) / kChunkRows;
  std::vector<int64_t> chunk_start(chunks + 1, 0);
  at::parallel_for(0, chunks, kLightPassRows / kChunkRows, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      int64_t count = 0;
      for (int64_t i = c * kChunkRows, e = std::min(n, (c + 1) * kChunkRows); i < e; ++i) count += k[i];
      chunk_start[c + 1] = count;
    }
  });
  for (int64_t c = 0; c < chunks; ++c) chunk_start[c + 1] += chunk_start[c];
  const int64_t kept = chunk_start[chunks];

  at::Tensor kept_index = cpu::empty({kept}, offset.options());
  std::vector<at::Tensor> gathered;
  for (const auto& t : tensors) gathered.push_back(empty_rows(t, kept));
  int64_t* index = kept_index.data_ptr<int64_t>();
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      int64_t* rows = index + chunk_start[c];
      int64_t count = 0;
      for (int64_t i = c * kChunkRows, e = std::min(n, (c + 1) * kChunkRows); i < e; ++i) {
        if (k[i]) rows[count++] = i;
      }
      for (size_t t = 0; t < tensors.size(); ++t) {
        const int64_t bytes = row_bytes(tensors[t]);
        copy_rows(static_cast<const char*>(tensors[t].data_ptr()),
                  static_cast<char*>(gathered[t].data_ptr()) + chunk_start[c] * bytes, rows, count, bytes);
      }
    }
  });

  // Kept rows below offset[b] = points of clouds 0..b that survive.
  at::Tensor new_offset = at::empty_like(offset);
  for (int64_t b = 0; b < offset.size(0); ++b) {
    new_offset.data_ptr<int64_t>()[b] = lower_bound(index, kept, offset.data_ptr<int64_t>()[b]);
  }
  return {gathered, kept_index, new_offset};
}

std::vector<at::Tensor> masked_gather_backward(const at::TensorList grads, const at::Tensor& kept_index_in,
                                               int64_t num_rows) {
  check_masked_gather_backward(grads, kept_index_in);
  const at::Tensor kept_index = kept_index_in.contiguous();
  const int64_t kept = kept_index.size(0);
  const int64_t* index = kept_index.data_ptr<int64_t>();
  std::vector<at::Tensor> outputs;
  for (const auto& grad_in : grads) {
    const at::Tensor grad = grad_in.contiguous();
    at::Tensor out = empty_rows(grad, num_rows);
    const int64_t bytes = row_bytes(out);
    const char* src = static_cast<const char*>(grad.data_ptr());
    char* dst = static_cast<char*>(out.data_ptr());
    // One write per output row: kept rows copy their gradient, the others are zeroed.
    at::parallel_for(0, num_rows, kChunkRows, [&](int64_t begin, int64_t end) {
      int64_t j = lower_bound(index, kept, begin);
      for (int64_t i = begin; i < end; ++i) {
        if (j < kept && index[j] == i) {
          std::memcpy(dst + i * bytes, src + j * bytes, bytes);
          ++j;
        } else {
          std::memset(dst + i * bytes, 0, bytes);
        }
      }
    });
    outputs.push_back(out);
  }
  return outputs;
}

}  // namespace

TORCH_LIBRARY_IMPL(dos_ops, CPU, m) {
  m.impl("masked_gather", &masked_gather);
  m.impl("masked_gather_backward", &masked_gather_backward);
}

}  // namespace cpu
}  // namespace dos_ops
