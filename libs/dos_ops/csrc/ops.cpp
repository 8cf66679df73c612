// Every schema of the dos_ops library, forward and backward. Kernels are registered per dispatch
// key in cpu/*.cpp and cuda/bindings.cpp; fake kernels and autograd live in pointcept/ops.
#include <torch/library.h>

TORCH_LIBRARY(dos_ops, m) {
  // Rows of every tensor where keep is true -> (gathered, kept_index [M] int64, new_offset [B]).
  m.def("masked_gather(Tensor[] tensors, Tensor keep, Tensor offset) -> (Tensor[], Tensor, Tensor)");
  // grads [M, ...] -> [num_rows, ...], zero except at the kept rows.
  m.def("masked_gather_backward(Tensor[] grads, Tensor kept_index, SymInt num_rows) -> Tensor[]");
  // -> (feat [M, C], coord [M, 3], grid_coord [M, 3], cluster [N], idx_ptr [M + 1], head [M],
  //     offset [B], argmax [M, C] int64 (or [0, C] unless reduce == "max" and with_argmax)).
  m.def(
      "grid_pool(Tensor grid_coord, Tensor offset, Tensor feat, Tensor coord, int stride, str reduce, "
      "bool with_argmax) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
  // grad [M, C] -> [num_rows, C]: each grad[m, c] goes to row argmax[m, c].
  m.def("grid_pool_max_backward(Tensor grad, Tensor argmax, SymInt num_rows) -> Tensor");
  // grad [M, C] -> [N, C]: grad of the mean, grad[cluster[i]] / count.
  m.def("grid_pool_mean_backward(Tensor grad, Tensor cluster, Tensor idx_ptr) -> Tensor");
  // logits [N, K] -> (target [N, K], row_error [B]), float64 for float64 logits else float32.
  m.def("zipf_sinkhorn(Tensor logits, Tensor offset, float alpha, Tensor? prior, int n_iter) -> (Tensor, Tensor)");
  // grid_coord [N, 3] int64 -> neighbours [N, 27] int64: row of the cell at grid + tap offset in the same
  // cloud (the lowest such row), -1 where no row holds it. Taps as in common/submconv.h.
  m.def("submconv_neighbours(Tensor grid_coord, Tensor offset) -> Tensor");
  // feat [N, C_in], weight [C_out, 3, 3, 3, C_in] -> [N, C_out] = sum_k W_k feat[neighbours[:, k]] + bias.
  m.def("submconv(Tensor feat, Tensor weight, Tensor? bias, Tensor neighbours) -> Tensor");
  // grad [N, C_out] -> (grad_feat [N, C_in] or [0, C_in], grad_weight like weight or [0]).
  m.def(
      "submconv_backward(Tensor grad, Tensor feat, Tensor weight, Tensor neighbours, bool feat_grad, "
      "bool weight_grad) -> (Tensor, Tensor)");
}
