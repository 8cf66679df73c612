// CPU Zipf-Sinkhorn: exp domain with scaling vectors, one cloud at a time, parallel over row chunks.
//
// Per cloud the matrix E (see common/sinkhorn.h) is written once into the output buffer; each round
// is then a single pass over E: row i's scaling u_i = 1 / (n * E_i . v) is final as soon as row i
// is read, so its contribution u_i * E_i to the column sums is added while the row is in cache.
// Column sums are accumulated per fixed chunk of rows and reduced in chunk order, so results do
// not depend on the number of threads.
#include <ATen/core/Tensor.h>
#include <ATen/ops/zeros.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>
#include <vector>

#include "../checks.h"
#include "../common/offsets.h"
#include "../common/sinkhorn.h"
#include "memory.h"
#include "sinkhorn_rows.h"

namespace dos_ops {
namespace cpu {
namespace {

constexpr int64_t kChunkRows = 64;

template <typename acc_t>
struct Cloud {
  int64_t rows;
  int64_t cols;
  int64_t chunks;
  acc_t* E;                  // [rows, cols], becomes the target
  std::vector<acc_t> u;      // [rows] row scaling of the last round
  std::vector<acc_t> part;   // [chunks, cols] per-chunk column partials
  std::vector<double> colsum;  // [cols]

  Cloud(int64_t rows, int64_t cols, acc_t* E)
      : rows(rows), cols(cols), chunks((rows + kChunkRows - 1) / kChunkRows), E(E), u(rows),
        part(chunks * cols), colsum(cols) {}

  template <typename F>
  void for_chunks(const F& body) {
    at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) body(c, c * kChunkRows, std::min(rows, (c + 1) * kChunkRows));
    });
  }

  // colsum[k] = sum over chunks of part[c, k], in chunk order (light: stays on this thread).
  void reduce_columns() {
    std::fill(colsum.begin(), colsum.end(), 0.0);
    for (int64_t c = 0; c < chunks; ++c) {
      const acc_t* p = part.data() + c * cols;
      for (int64_t k = 0; k < cols; ++k) colsum[k] += p[k];
    }
  }

  // Row scaling with column weights v, then the column sums of diag(u) E.
  void round(const acc_t* v) {
    const acc_t inv_rows = acc_t(1) / acc_t(rows);
    for_chunks([&](int64_t c, int64_t begin, int64_t end) {
      acc_t* p = part.data() + c * cols;
      std::fill(p, p + cols, acc_t(0));
      for (int64_t i = begin; i < end; ++i) u[i] = round_row(E + i * cols, v, p, cols, inv_rows);
    });
    reduce_columns();
  }
};

// The first round, fused with building E = exp(L - rowmax - shift): each logit row is read once,
// exponentiated, and its row scaling (with column weights v0) and column contribution are taken
// while it is in cache. Also returns colmax of (L - rowmax) when `colmax` is given.
template <typename in_t, typename acc_t>
void first_round(const in_t* logits, Cloud<acc_t>& cloud, const acc_t* shift, const acc_t* v0,
                 std::vector<acc_t>* colmax) {
  const int64_t cols = cloud.cols;
  const acc_t inv_rows = acc_t(1) / acc_t(cloud.rows);
  std::vector<acc_t> chunk_max(colmax ? cloud.chunks * cols : 0);
  cloud.for_chunks([&](int64_t c, int64_t begin, int64_t end) {
    std::vector<acc_t> row(cols);
    acc_t* p = cloud.part.data() + c * cols;
    std::fill(p, p + cols, acc_t(0));
    acc_t* cm = colmax ? chunk_max.data() + c * cols : nullptr;
    if (cm) std::fill(cm, cm + cols, -INFINITY);
    for (int64_t i = begin; i < end; ++i) {
      cloud.u[i] = first_row(logits + i * cols, row.data(), cloud.E + i * cols, p, cm, shift, v0, cols, inv_rows);
    }
  });
  cloud.reduce_columns();
  if (colmax) {
    colmax->assign(cols, -INFINITY);
    for (int64_t c = 0; c < cloud.chunks; ++c) {
      for (int64_t k = 0; k < cols; ++k) (*colmax)[k] = std::max((*colmax)[k], chunk_max[c * cols + k]);
    }
  }
}

template <typename in_t, typename acc_t>
acc_t sinkhorn_cloud(const in_t* logits, acc_t* out, int64_t rows, int64_t cols, const double* prior,
                     int64_t n_iter) {
  Cloud<acc_t> cloud(rows, cols, out);
  std::vector<acc_t> colmax;
  first_round(logits, cloud, static_cast<const acc_t*>(nullptr), static_cast<const acc_t*>(nullptr), &colmax);
  // A column whose largest entry sits far below its row's max has lost its small entries to
  // underflow: redo the first round with the per-column shift (exact, see common/sinkhorn.h).
  const acc_t safe = std::is_same<acc_t, float>::value ? acc_t(-40) : acc_t(-600);
  if (*std::min_element(colmax.begin(), colmax.end()) < safe) {
    std::vector<acc_t> v0(cols);
    for (int64_t k = 0; k < cols; ++k) v0[k] = std::exp(colmax[k]);
    first_round(logits, cloud, colmax.data(), v0.data(), static_cast<std::vector<acc_t>*>(nullptr));
  }
  std::vector<acc_t> v(cols);
  for (int64_t t = 1; t < n_iter; ++t) {
    for (int64_t k = 0; k < cols; ++k) v[k] = static_cast<acc_t>(prior[k] / cloud.colsum[k]);
    cloud.round(v.data());
  }
  for (int64_t k = 0; k < cols; ++k) v[k] = static_cast<acc_t>(prior[k] / cloud.colsum[k]);
  // Final column normalisation (the last column scaling cancels in it) and the row-marginal error
  // of diag(u) E diag(v).
  std::vector<acc_t> inv_colsum(cols);
  for (int64_t k = 0; k < cols; ++k) inv_colsum[k] = static_cast<acc_t>(1.0 / cloud.colsum[k]);
  std::vector<double> chunk_error(cloud.chunks);
  const double inv_rows = 1.0 / static_cast<double>(rows);
  cloud.for_chunks([&](int64_t c, int64_t begin, int64_t end) {
    double error = 0;
    for (int64_t i = begin; i < end; ++i) {
      const acc_t marginal = final_row(out + i * cols, v.data(), inv_colsum.data(), cloud.u[i], cols);
      error += std::abs(static_cast<double>(marginal) - inv_rows);
    }
    chunk_error[c] = error;
  });
  double error = 0;
  for (double x : chunk_error) error += x;
  return static_cast<acc_t>(error);
}

std::tuple<at::Tensor, at::Tensor> zipf_sinkhorn(const at::Tensor& logits_in, const at::Tensor& offset_in,
                                                 double alpha, const std::optional<at::Tensor>& prior_in,
                                                 int64_t n_iter) {
  check_zipf_sinkhorn(logits_in, offset_in, prior_in, n_iter);
  const at::Tensor logits = logits_in.contiguous();
  const at::Tensor offset = offset_in.contiguous();
  const int64_t rows = logits.size(0), cols = logits.size(1), clouds = offset.size(0);
  const auto acc_type = logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  // Every row belongs to a cloud, so every row is written.
  at::Tensor target = cpu::empty({rows, cols}, logits.options().dtype(acc_type));
  at::Tensor row_error = at::zeros({clouds}, logits.options().dtype(acc_type));
  if (rows == 0 || cols == 0) return {target, row_error};

  std::vector<double> prior(cols);
  if (prior_in.has_value()) {
    const at::Tensor p = prior_in->to(at::kDouble).contiguous();
    const double total = p.sum().item<double>();
    for (int64_t k = 0; k < cols; ++k) prior[k] = p.data_ptr<double>()[k] / total;
  } else {
    double total = 0;
    for (int64_t k = 0; k < cols; ++k) total += prior[k] = zipf_weight(k, alpha);
    for (int64_t k = 0; k < cols; ++k) prior[k] /= total;
  }

  const int64_t* off = offset.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, logits.scalar_type(), "zipf_sinkhorn_cpu", [&] {
    using in_t = scalar_t;
    // The inner dispatch shadows scalar_t with the accumulation type.
    AT_DISPATCH_FLOATING_TYPES(acc_type, "zipf_sinkhorn_cpu_acc", [&] {
      for (int64_t b = 0; b < clouds; ++b) {
        const int64_t start = cloud_start(off, b), n = off[b] - start;
        if (n <= 0) continue;
        row_error.data_ptr<scalar_t>()[b] = sinkhorn_cloud<in_t, scalar_t>(
            logits.data_ptr<in_t>() + start * cols, target.data_ptr<scalar_t>() + start * cols, n, cols,
            prior.data(), n_iter);
      }
    });
  });
  return {target, row_error};
}

}  // namespace

TORCH_LIBRARY_IMPL(dos_ops, CPU, m) { m.impl("zipf_sinkhorn", &zipf_sinkhorn); }

}  // namespace cpu
}  // namespace dos_ops
