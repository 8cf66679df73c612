// CUDA entry points: check arguments, take the device guard and stream, allocate outputs and
// scratch with torch, call the launchers of launchers.h, and turn CUDA errors into exceptions.
// Output sizes that depend on data (kept rows, cells) are read back with one device-to-host copy.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../checks.h"
#include "../common/offsets.h"
#include "../common/sinkhorn.h"
#include "launchers.h"

namespace dos_ops {
namespace cuda {
namespace {

void check(cudaError_t error, const char* op) {
  TORCH_CHECK(error == cudaSuccess, "dos_ops::", op, " CUDA error: ", cudaGetErrorString(error));
}

FloatType float_type(at::ScalarType type) {
  switch (type) {
    case at::kHalf: return FloatType::kHalf;
    case at::kBFloat16: return FloatType::kBFloat16;
    case at::kFloat: return FloatType::kFloat;
    case at::kDouble: return FloatType::kDouble;
    default: TORCH_CHECK(false, "dos_ops: expected a float16/bfloat16/float32/float64 tensor, got ", type);
  }
}

int64_t row_bytes(const at::Tensor& t) {
  return t.size(0) == 0 ? 0 : t.numel() / t.size(0) * static_cast<int64_t>(t.element_size());
}

at::Tensor empty_rows(const at::Tensor& like, int64_t rows) {
  std::vector<int64_t> shape = like.sizes().vec();
  shape[0] = rows;
  return at::empty(shape, like.options());
}

at::Tensor scratch_bytes(size_t bytes, const at::Tensor& like) {
  return at::empty({static_cast<int64_t>(bytes)}, like.options().dtype(at::kByte));
}

std::tuple<std::vector<at::Tensor>, at::Tensor, at::Tensor> masked_gather_cuda(at::TensorList tensors_in,
                                                                          const at::Tensor& keep_in,
                                                                          const at::Tensor& offset_in) {
  check_masked_gather(tensors_in, keep_in, offset_in);
  const c10::cuda::CUDAGuard guard(keep_in.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor keep = keep_in.contiguous(), offset = offset_in.contiguous();
  const int64_t n = keep.size(0);
  const auto index = offset.options();
  at::Tensor flags = at::empty({n}, index), position = at::empty({n}, index);
  const size_t bytes = masked_gather_scan_bytes(n);
  at::Tensor scratch = scratch_bytes(bytes, keep);
  check(masked_gather_scan(keep.data_ptr<bool>(), n, flags.data_ptr<int64_t>(), position.data_ptr<int64_t>(),
                           scratch.data_ptr(), bytes, stream),
        "masked_gather");
  const int64_t kept = n == 0 ? 0 : position[n - 1].item<int64_t>();
  at::Tensor kept_index = at::empty({kept}, index), new_offset = at::empty_like(offset);
  check(masked_gather_index(keep.data_ptr<bool>(), position.data_ptr<int64_t>(), n, offset.data_ptr<int64_t>(),
                            offset.size(0), kept_index.data_ptr<int64_t>(), kept, new_offset.data_ptr<int64_t>(),
                            stream),
        "masked_gather");
  std::vector<at::Tensor> gathered;
  for (const auto& t_in : tensors_in) {
    const at::Tensor t = t_in.contiguous();
    at::Tensor out = empty_rows(t, kept);
    check(gather_rows(t.data_ptr(), out.data_ptr(), kept_index.data_ptr<int64_t>(), kept, row_bytes(t), stream),
          "masked_gather");
    gathered.push_back(out);
  }
  return {gathered, kept_index, new_offset};
}

std::vector<at::Tensor> masked_gather_backward_cuda(at::TensorList grads, const at::Tensor& kept_index_in,
                                               int64_t num_rows) {
  check_masked_gather_backward(grads, kept_index_in);
  const c10::cuda::CUDAGuard guard(kept_index_in.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor kept_index = kept_index_in.contiguous();
  std::vector<at::Tensor> outputs;
  for (const auto& grad_in : grads) {
    const at::Tensor grad = grad_in.contiguous();
    at::Tensor out = empty_rows(grad, num_rows).zero_();
    check(scatter_rows(grad.data_ptr(), out.data_ptr(), kept_index.data_ptr<int64_t>(), kept_index.size(0),
                       row_bytes(grad), stream),
          "masked_gather_backward");
    outputs.push_back(out);
  }
  return outputs;
}

int bit_width(int64_t x) {
  int bits = 0;
  while ((x >> bits) != 0) ++bits;
  return bits;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> grid_pool_cuda(
    const at::Tensor& grid_in, const at::Tensor& offset_in, const at::Tensor& feat_in, const at::Tensor& coord_in,
    int64_t stride, c10::string_view reduce, bool with_argmax) {
  check_grid_pool(grid_in, offset_in, feat_in, coord_in, stride, reduce);
  const c10::cuda::CUDAGuard guard(grid_in.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor grid = grid_in.contiguous(), offset = offset_in.contiguous();
  const at::Tensor feat = feat_in.contiguous(), coord = coord_in.contiguous();
  const int64_t n = grid.size(0), clouds = offset.size(0), channels = feat.size(1);
  const bool max = reduce == "max";
  const auto index = offset.options();

  if (n > 0) {
    const auto [lo, hi] = at::aminmax(grid);
    check_grid_range(lo.item<int64_t>(), hi.item<int64_t>());
  }
  const int end_bit = kCloudShift + bit_width(clouds - 1);
  at::Tensor key = at::empty({n}, index), order = at::empty({n}, index), segment = at::empty({n}, index);
  at::Tensor tmp_a = at::empty({n}, index), tmp_b = at::empty({n}, index);
  const size_t bytes = grid_pool_scratch_bytes(n, end_bit);
  at::Tensor scratch = scratch_bytes(bytes, grid);
  check(grid_pool_sort(grid.data_ptr<int64_t>(), offset.data_ptr<int64_t>(), clouds, n, stride, end_bit,
                       key.data_ptr<int64_t>(), order.data_ptr<int64_t>(), segment.data_ptr<int64_t>(),
                       tmp_a.data_ptr<int64_t>(), tmp_b.data_ptr<int64_t>(), scratch.data_ptr(), bytes, stream),
        "grid_pool");
  const int64_t cells = n == 0 ? 0 : segment[n - 1].item<int64_t>();

  at::Tensor cluster = at::empty({n}, index), idx_ptr = at::empty({cells + 1}, index);
  at::Tensor head = at::empty({cells}, index), pooled_grid = at::empty({cells, 3}, index);
  at::Tensor new_offset = at::empty({clouds}, index);
  check(grid_pool_cells(key.data_ptr<int64_t>(), order.data_ptr<int64_t>(), segment.data_ptr<int64_t>(), n, cells,
                        clouds, cluster.data_ptr<int64_t>(), idx_ptr.data_ptr<int64_t>(), head.data_ptr<int64_t>(),
                        pooled_grid.data_ptr<int64_t>(), new_offset.data_ptr<int64_t>(), stream),
        "grid_pool");
  at::Tensor pooled = at::empty({cells, channels}, feat.options());
  at::Tensor argmax = at::empty({max && with_argmax ? cells : 0, channels}, index);
  check(grid_pool_reduce(float_type(feat.scalar_type()), feat.data_ptr(), channels, order.data_ptr<int64_t>(),
                         idx_ptr.data_ptr<int64_t>(), cells, max, pooled.data_ptr(),
                         argmax.size(0) ? argmax.data_ptr<int64_t>() : nullptr, stream),
        "grid_pool");
  at::Tensor pooled_coord = at::empty({cells, 3}, coord.options());
  check(grid_pool_reduce(float_type(coord.scalar_type()), coord.data_ptr(), 3, order.data_ptr<int64_t>(),
                         idx_ptr.data_ptr<int64_t>(), cells, false, pooled_coord.data_ptr(), nullptr, stream),
        "grid_pool");
  return {pooled, pooled_coord, pooled_grid, cluster, idx_ptr, head, new_offset, argmax};
}

at::Tensor grid_pool_max_backward_cuda(const at::Tensor& grad_in, const at::Tensor& argmax_in, int64_t num_rows) {
  check_grid_pool_max_backward(grad_in, argmax_in);
  const c10::cuda::CUDAGuard guard(grad_in.device());
  const at::Tensor grad = grad_in.contiguous(), argmax = argmax_in.contiguous();
  at::Tensor out = at::zeros({num_rows, grad.size(1)}, grad.options());
  check(grid_pool_max_backward(float_type(grad.scalar_type()), grad.data_ptr(), argmax.data_ptr<int64_t>(),
                               grad.size(0), grad.size(1), out.data_ptr(), c10::cuda::getCurrentCUDAStream()),
        "grid_pool_max_backward");
  return out;
}

at::Tensor grid_pool_mean_backward_cuda(const at::Tensor& grad_in, const at::Tensor& cluster_in,
                                   const at::Tensor& idx_ptr_in) {
  check_grid_pool_mean_backward(grad_in, cluster_in, idx_ptr_in);
  const c10::cuda::CUDAGuard guard(grad_in.device());
  const at::Tensor grad = grad_in.contiguous(), cluster = cluster_in.contiguous(), idx_ptr = idx_ptr_in.contiguous();
  at::Tensor out = at::empty({cluster.size(0), grad.size(1)}, grad.options());
  check(grid_pool_mean_backward(float_type(grad.scalar_type()), grad.data_ptr(), cluster.data_ptr<int64_t>(),
                                idx_ptr.data_ptr<int64_t>(), cluster.size(0), grad.size(1), out.data_ptr(),
                                c10::cuda::getCurrentCUDAStream()),
        "grid_pool_mean_backward");
  return out;
}

constexpr int64_t kSinkhornChunkRows = 256;

std::tuple<at::Tensor, at::Tensor> zipf_sinkhorn_cuda(const at::Tensor& logits_in, const at::Tensor& offset_in,
                                                 double alpha, const std::optional<at::Tensor>& prior_in,
                                                 int64_t n_iter) {
  check_zipf_sinkhorn(logits_in, offset_in, prior_in, n_iter);
  const c10::cuda::CUDAGuard guard(logits_in.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor logits = logits_in.contiguous(), offset = offset_in.contiguous();
  const int64_t n = logits.size(0), k = logits.size(1), clouds = offset.size(0);
  const auto acc_type = logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor target = at::empty({n, k}, logits.options().dtype(acc_type));
  at::Tensor row_error = at::zeros({clouds}, logits.options().dtype(acc_type));
  if (n == 0 || k == 0) return {target, row_error};

  at::Tensor prior;
  if (prior_in.has_value()) {
    prior = prior_in->to(logits.device(), at::kDouble);
    prior = (prior / prior.sum()).contiguous();
  } else {
    std::vector<double> weights(k);
    double total = 0;
    for (int64_t c = 0; c < k; ++c) total += weights[c] = zipf_weight(c, alpha);
    for (double& w : weights) w /= total;
    prior = at::tensor(weights, at::TensorOptions().dtype(at::kDouble)).to(logits.device());
  }

  // Row chunks per non-empty cloud, laid out as [begin | end | cloud | cloud_chunk (B + 1)].
  const at::Tensor offset_host = offset.cpu();
  const int64_t* off = offset_host.data_ptr<int64_t>();
  std::vector<int64_t> begin, end, cloud, cloud_chunk{0};
  for (int64_t b = 0; b < clouds; ++b) {
    for (int64_t row = cloud_start(off, b); row < off[b]; row += kSinkhornChunkRows) {
      begin.push_back(row);
      end.push_back(std::min(off[b], row + kSinkhornChunkRows));
      cloud.push_back(b);
    }
    cloud_chunk.push_back(static_cast<int64_t>(begin.size()));
  }
  const int64_t chunk_count = static_cast<int64_t>(begin.size());
  std::vector<int64_t> table;
  for (const auto* part : {&begin, &end, &cloud, &cloud_chunk}) table.insert(table.end(), part->begin(), part->end());
  const at::Tensor table_device = at::tensor(table, offset_host.options()).to(logits.device());
  const int64_t* t = table_device.data_ptr<int64_t>();
  const SinkhornChunks chunks{t, t + chunk_count, t + 2 * chunk_count, t + 3 * chunk_count, chunk_count};

  at::Tensor scratch = at::empty({zipf_sinkhorn_scratch_elements(n, k, clouds, chunk_count)}, target.options());
  check(zipf_sinkhorn(float_type(logits.scalar_type()), logits.data_ptr(), n, k, offset.data_ptr<int64_t>(), clouds,
                      prior.data_ptr<double>(), n_iter, chunks, target.data_ptr(), row_error.data_ptr(),
                      scratch.data_ptr(), stream),
        "zipf_sinkhorn");
  return {target, row_error};
}

at::Tensor submconv_neighbours_cuda(const at::Tensor& grid_in, const at::Tensor& offset_in) {
  check_submconv_neighbours(grid_in, offset_in);
  const c10::cuda::CUDAGuard guard(grid_in.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor grid = grid_in.contiguous(), offset = offset_in.contiguous();
  const int64_t n = grid.size(0), clouds = offset.size(0);
  const auto index = offset.options();
  at::Tensor nbr = at::empty({n, kTaps}, index);
  if (n == 0) return nbr;
  const auto [lo, hi] = at::aminmax(grid);
  check_grid_range(lo.item<int64_t>(), hi.item<int64_t>());
  const int end_bit = kCloudShift + bit_width(clouds - 1);
  at::Tensor keys = at::empty({4, n}, index);  // key, row, sorted key, sorted row
  int64_t* k = keys.data_ptr<int64_t>();
  const size_t bytes = submconv_neighbours_scratch_bytes(n, end_bit);
  at::Tensor scratch = scratch_bytes(bytes, grid);
  check(submconv_neighbours(grid.data_ptr<int64_t>(), offset.data_ptr<int64_t>(), clouds, n, end_bit, k, k + n,
                            k + 2 * n, k + 3 * n, scratch.data_ptr(), bytes, nbr.data_ptr<int64_t>(), stream),
        "submconv_neighbours");
  return nbr;
}

// Elements of one gathered [rows, 27 C] block (64 MB of float32).
constexpr int64_t kSubmconvBlockElements = int64_t{1} << 24;

int64_t submconv_block_rows(int64_t width, int64_t n) {
  return std::max<int64_t>(1, std::min<int64_t>(n, kSubmconvBlockElements / std::max<int64_t>(width, 1)));
}

at::Tensor submconv_cuda(const at::Tensor& feat_in, const at::Tensor& weight_in, const std::optional<at::Tensor>& bias,
                         const at::Tensor& nbr_in) {
  check_submconv(feat_in, weight_in, bias, nbr_in);
  const c10::cuda::CUDAGuard guard(feat_in.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor feat = feat_in.contiguous(), nbr = nbr_in.contiguous();
  const int64_t n = feat.size(0), c_in = feat.size(1), c_out = weight_in.size(0);
  at::Tensor out = at::empty({n, c_out}, feat.options());
  if (n == 0) return out;
  const at::Tensor weight_t = weight_in.reshape({c_out, kTaps * c_in}).t();  // [27 C_in, C_out]
  const int64_t rows_per_block = submconv_block_rows(kTaps * c_in, n);
  at::Tensor buffer = at::empty({rows_per_block, kTaps * c_in}, feat.options());
  for (int64_t r0 = 0; r0 < n; r0 += rows_per_block) {
    const int64_t rows = std::min(rows_per_block, n - r0);
    check(submconv_gather(float_type(feat.scalar_type()), feat.data_ptr(), c_in, nbr.data_ptr<int64_t>(), r0, rows,
                          false, buffer.data_ptr(), stream),
          "submconv");
    at::Tensor block_out = out.narrow(0, r0, rows);
    const at::Tensor gathered = buffer.narrow(0, 0, rows);
    if (bias.has_value()) {
      at::addmm_out(block_out, bias->expand({rows, c_out}), gathered, weight_t);
    } else {
      at::mm_out(block_out, gathered, weight_t);
    }
  }
  return out;
}

std::tuple<at::Tensor, at::Tensor> submconv_backward_cuda(const at::Tensor& grad_in, const at::Tensor& feat_in,
                                                          const at::Tensor& weight_in, const at::Tensor& nbr_in,
                                                          bool feat_grad, bool weight_grad) {
  check_submconv_backward(grad_in, feat_in, weight_in, nbr_in);
  const c10::cuda::CUDAGuard guard(feat_in.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor grad = grad_in.contiguous(), feat = feat_in.contiguous(), nbr = nbr_in.contiguous();
  const int64_t n = feat.size(0), c_in = feat.size(1), c_out = weight_in.size(0);
  const auto acc_type = feat.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const FloatType type = float_type(feat.scalar_type());
  at::Tensor grad_feat = at::empty({feat_grad ? n : 0, c_in}, feat.options());
  at::Tensor grad_weight_acc =
      weight_grad ? at::zeros({c_out, kTaps * c_in}, feat.options().dtype(acc_type)) : at::Tensor();
  if (n > 0 && (feat_grad || weight_grad)) {
    // Row (k, co) holds W[co, k, :]; the grad rows are gathered at the mirrored taps.
    const at::Tensor weight_taps =
        weight_in.reshape({c_out, kTaps, c_in}).permute({1, 0, 2}).reshape({kTaps * c_out, c_in});
    const int64_t rows_per_block = submconv_block_rows(kTaps * std::max(c_in, c_out), n);
    at::Tensor gathered_grad = feat_grad ? at::empty({rows_per_block, kTaps * c_out}, feat.options()) : at::Tensor();
    at::Tensor gathered_feat = weight_grad ? at::empty({rows_per_block, kTaps * c_in}, feat.options()) : at::Tensor();
    for (int64_t r0 = 0; r0 < n; r0 += rows_per_block) {
      const int64_t rows = std::min(rows_per_block, n - r0);
      if (feat_grad) {
        check(submconv_gather(type, grad.data_ptr(), c_out, nbr.data_ptr<int64_t>(), r0, rows, true,
                              gathered_grad.data_ptr(), stream),
              "submconv_backward");
        at::Tensor block_out = grad_feat.narrow(0, r0, rows);
        at::mm_out(block_out, gathered_grad.narrow(0, 0, rows), weight_taps);
      }
      if (weight_grad) {
        check(submconv_gather(type, feat.data_ptr(), c_in, nbr.data_ptr<int64_t>(), r0, rows, false,
                              gathered_feat.data_ptr(), stream),
              "submconv_backward");
        const at::Tensor grad_t = grad.narrow(0, r0, rows).t();
        const at::Tensor block_feat = gathered_feat.narrow(0, 0, rows);
        if (feat.scalar_type() == acc_type) {
          grad_weight_acc.addmm_(grad_t, block_feat);
        } else {
          grad_weight_acc.add_(at::mm(grad_t, block_feat));
        }
      }
    }
  }
  at::Tensor grad_weight = weight_grad ? grad_weight_acc.to(feat.scalar_type()).view(weight_in.sizes())
                                       : at::empty({0}, feat.options());
  return {grad_feat, grad_weight};
}

}  // namespace

TORCH_LIBRARY_IMPL(dos_ops, CUDA, m) {
  m.impl("masked_gather", &masked_gather_cuda);
  m.impl("masked_gather_backward", &masked_gather_backward_cuda);
  m.impl("grid_pool", &grid_pool_cuda);
  m.impl("grid_pool_max_backward", &grid_pool_max_backward_cuda);
  m.impl("grid_pool_mean_backward", &grid_pool_mean_backward_cuda);
  m.impl("zipf_sinkhorn", &zipf_sinkhorn_cuda);
  m.impl("submconv_neighbours", &submconv_neighbours_cuda);
  m.impl("submconv", &submconv_cuda);
  m.impl("submconv_backward", &submconv_backward_cuda);
}

}  // namespace cuda
}  // namespace dos_ops
