// Argument checks shared by the CPU and CUDA entry points. The Python wrappers in pointcept.ops
// validate user input with friendlier errors first; these guard direct torch.ops.dos_ops calls.
#pragma once

#include <ATen/core/Tensor.h>

#include "common/grid_key.h"
#include "common/submconv.h"

namespace dos_ops {

inline void check_index_vector(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.dim() == 1 && t.scalar_type() == at::kLong, name, " must be a 1-D int64 tensor, got ", t.sizes(),
              " ", t.scalar_type());
}

inline void check_same_device(const at::Tensor& t, const at::Tensor& like, const char* name) {
  TORCH_CHECK(t.device() == like.device(), name, " must be on ", like.device(), ", got ", t.device());
}

inline void check_masked_gather(at::TensorList tensors, const at::Tensor& keep, const at::Tensor& offset) {
  TORCH_CHECK(keep.dim() == 1 && keep.scalar_type() == at::kBool, "keep must be a 1-D bool tensor");
  check_index_vector(offset, "offset");
  check_same_device(offset, keep, "offset");
  for (const auto& t : tensors) {
    TORCH_CHECK(t.dim() >= 1 && t.size(0) == keep.size(0), "every tensor must have N=", keep.size(0),
                " rows, got ", t.sizes());
    check_same_device(t, keep, "every tensor");
  }
}

inline void check_masked_gather_backward(at::TensorList grads, const at::Tensor& kept_index) {
  check_index_vector(kept_index, "kept_index");
  for (const auto& g : grads) {
    TORCH_CHECK(g.dim() >= 1 && g.size(0) == kept_index.size(0), "every grad must have M=", kept_index.size(0),
                " rows, got ", g.sizes());
    check_same_device(g, kept_index, "every grad");
  }
}

inline void check_grid_pool(const at::Tensor& grid, const at::Tensor& offset, const at::Tensor& feat,
                            const at::Tensor& coord, int64_t stride, c10::string_view reduce) {
  TORCH_CHECK(grid.dim() == 2 && grid.size(1) == 3 && grid.scalar_type() == at::kLong,
              "grid_coord must be an int64 [N, 3] tensor");
  check_index_vector(offset, "offset");
  TORCH_CHECK(offset.size(0) >= 1 && offset.size(0) <= kMaxClouds, "offset must hold 1..", kMaxClouds, " clouds");
  TORCH_CHECK(feat.dim() == 2 && feat.size(0) == grid.size(0), "feat must be [N, C]");
  TORCH_CHECK(coord.dim() == 2 && coord.size(0) == grid.size(0) && coord.size(1) == 3, "coord must be [N, 3]");
  TORCH_CHECK(stride >= 1, "stride must be >= 1, got ", stride);
  TORCH_CHECK(reduce == "max" || reduce == "mean", "reduce must be 'max' or 'mean'");
  check_same_device(offset, grid, "offset");
  check_same_device(feat, grid, "feat");
  check_same_device(coord, grid, "coord");
}

inline void check_grid_pool_max_backward(const at::Tensor& grad, const at::Tensor& argmax) {
  TORCH_CHECK(grad.dim() == 2 && argmax.sizes() == grad.sizes() && argmax.scalar_type() == at::kLong,
              "argmax must be an int64 tensor of the shape of grad [M, C], got ", argmax.sizes());
  check_same_device(argmax, grad, "argmax");
}

inline void check_grid_pool_mean_backward(const at::Tensor& grad, const at::Tensor& cluster,
                                          const at::Tensor& idx_ptr) {
  check_index_vector(cluster, "cluster");
  check_index_vector(idx_ptr, "idx_ptr");
  TORCH_CHECK(grad.dim() == 2 && idx_ptr.size(0) == grad.size(0) + 1, "idx_ptr must be [M + 1] for grad [M, C]");
  check_same_device(cluster, grad, "cluster");
  check_same_device(idx_ptr, grad, "idx_ptr");
}

// Same message as the Python wrapper, which leaves this check to the kernels when they run.
inline void check_grid_range(int64_t lo, int64_t hi) {
  TORCH_CHECK_VALUE(lo >= 0 && hi <= kMaxAxis, "grid_coord must lie in [0, ", kMaxAxis,
                    "] (16 bits per axis), got values in [", lo, ", ", hi, "]");
}

inline void check_zipf_sinkhorn(const at::Tensor& logits, const at::Tensor& offset,
                                const std::optional<at::Tensor>& prior, int64_t n_iter) {
  TORCH_CHECK(logits.dim() == 2, "logits must be [N, K], got ", logits.sizes());
  check_index_vector(offset, "offset");
  check_same_device(offset, logits, "offset");
  TORCH_CHECK(n_iter >= 1, "n_iter must be >= 1, got ", n_iter);
  if (prior.has_value()) {
    TORCH_CHECK(prior->dim() == 1 && prior->size(0) == logits.size(1), "prior must be [K]");
  }
}

inline void check_submconv_neighbours(const at::Tensor& grid, const at::Tensor& offset) {
  TORCH_CHECK(grid.dim() == 2 && grid.size(1) == 3 && grid.scalar_type() == at::kLong,
              "grid_coord must be an int64 [N, 3] tensor");
  check_index_vector(offset, "offset");
  TORCH_CHECK(offset.size(0) >= 1 && offset.size(0) <= kMaxClouds, "offset must hold 1..", kMaxClouds, " clouds");
  check_same_device(offset, grid, "offset");
}

// feat [N, C_in], weight [C_out, 3, 3, 3, C_in] of feat's dtype, neighbours [N, 27] int64.
inline void check_submconv_operands(const at::Tensor& feat, const at::Tensor& weight, const at::Tensor& neighbours) {
  TORCH_CHECK(feat.dim() == 2, "feat must be [N, C_in], got ", feat.sizes());
  TORCH_CHECK(weight.dim() == 5 && weight.size(1) == 3 && weight.size(2) == 3 && weight.size(3) == 3 &&
                  weight.size(4) == feat.size(1),
              "weight must be [C_out, 3, 3, 3, C_in=", feat.size(1), "], got ", weight.sizes());
  TORCH_CHECK(weight.scalar_type() == feat.scalar_type(), "weight must have the dtype of feat (",
              feat.scalar_type(), "), got ", weight.scalar_type());
  TORCH_CHECK(neighbours.dim() == 2 && neighbours.size(0) == feat.size(0) && neighbours.size(1) == kTaps &&
                  neighbours.scalar_type() == at::kLong,
              "neighbours must be an int64 [N=", feat.size(0), ", 27] tensor, got ", neighbours.sizes(), " ",
              neighbours.scalar_type());
  check_same_device(weight, feat, "weight");
  check_same_device(neighbours, feat, "neighbours");
}

inline void check_submconv(const at::Tensor& feat, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                           const at::Tensor& neighbours) {
  check_submconv_operands(feat, weight, neighbours);
  if (bias.has_value()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == weight.size(0) && bias->scalar_type() == feat.scalar_type(),
                "bias must be [C_out=", weight.size(0), "] of feat's dtype");
    check_same_device(*bias, feat, "bias");
  }
}

inline void check_submconv_backward(const at::Tensor& grad, const at::Tensor& feat, const at::Tensor& weight,
                                    const at::Tensor& neighbours) {
  check_submconv_operands(feat, weight, neighbours);
  TORCH_CHECK(grad.dim() == 2 && grad.size(0) == feat.size(0) && grad.size(1) == weight.size(0) &&
                  grad.scalar_type() == feat.scalar_type(),
              "grad must be [N, C_out] of feat's dtype, got ", grad.sizes(), " ", grad.scalar_type());
  check_same_device(grad, feat, "grad");
}

}  // namespace dos_ops
