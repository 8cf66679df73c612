// Large CPU buffers and tensors backed by transparent huge pages.
//
// Why: the kernels stream through outputs of hundreds of MB that are freshly allocated on every
// call. With 4 KB pages the first touch of every page faults; on virtual machines that costs
// microseconds per page, more than the arithmetic (measured here: filling a new 328 MB tensor takes
// 370 ms with 4 KB pages and 42 ms with 2 MB pages). Allocations above kHugeThreshold are therefore
// 2 MB aligned and advised MADV_HUGEPAGE (Linux; elsewhere, and below the threshold, plain malloc).
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/EmptyTensor.h>

#include <cstdlib>
#include <memory>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace dos_ops {
namespace cpu {

constexpr size_t kHugePage = size_t{1} << 21;
constexpr size_t kHugeThreshold = size_t{4} << 20;

inline void* allocate(size_t bytes) {
  void* ptr = nullptr;
  if (bytes >= kHugeThreshold) {
    const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    TORCH_CHECK(posix_memalign(&ptr, kHugePage, rounded) == 0, "dos_ops: out of memory allocating ", bytes, " bytes");
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(ptr, rounded, MADV_HUGEPAGE);  // advisory: failure only costs speed
#endif
  } else {
    ptr = std::malloc(bytes == 0 ? 1 : bytes);
    TORCH_CHECK(ptr != nullptr, "dos_ops: out of memory allocating ", bytes, " bytes");
  }
  return ptr;
}

struct Free {
  void operator()(void* ptr) const { std::free(ptr); }
};

// Uninitialised array of n trivially copyable T.
template <typename T>
class Buffer {
 public:
  explicit Buffer(int64_t n = 0) : size_(n), data_(static_cast<T*>(allocate(sizeof(T) * static_cast<size_t>(n)))) {}
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  T& operator[](int64_t i) { return data_.get()[i]; }
  const T& operator[](int64_t i) const { return data_.get()[i]; }
  int64_t size() const { return size_; }
  void swap(Buffer& other) {
    std::swap(size_, other.size_);
    data_.swap(other.data_);
  }

 private:
  int64_t size_;
  std::unique_ptr<T, Free> data_;
};

// Allocator handing out the buffers above; tensors made with it are ordinary resizable CPU tensors.
class HugePageAllocator final : public at::Allocator {
 public:
  static void release(void* ptr) { std::free(ptr); }
  at::DataPtr allocate(size_t bytes) override {
    void* ptr = dos_ops::cpu::allocate(bytes);
    return {ptr, ptr, &release, at::Device(at::kCPU)};
  }
  at::DeleterFnPtr raw_deleter() const override { return &release; }
  void copy_data(void* dest, const void* src, size_t count) const override { default_copy_data(dest, src, count); }
};

// Like at::empty on CPU (contiguous), on huge pages when large.
inline at::Tensor empty(at::IntArrayRef sizes, const at::TensorOptions& options) {
  static HugePageAllocator allocator;
  return at::detail::empty_generic(sizes, &allocator, c10::DispatchKeySet(c10::DispatchKey::CPU),
                                   c10::typeMetaToScalarType(options.dtype()), std::nullopt);
}

}  // namespace cpu
}  // namespace dos_ops
