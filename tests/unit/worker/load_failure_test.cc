// ClassifyLoadFailure: the error lines llama.cpp/ggml log during a failed
// load decide between out_of_memory (the operator asks for less) and internal.
#include "worker/engine/llama_engine.h"

#include <gtest/gtest.h>

namespace vigil::worker {
namespace {

TEST(ClassifyLoadFailure, AllocationFailuresAreOutOfMemory) {
  const char* logs[] = {
      // CPU backend: the host buffer for weights or KV cache.
      "ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer of size 1234\n",
      // CUDA: the model does not fit the card.
      "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 279356.51 MiB on device 0: "
      "cudaMalloc failed: out of memory\n",
      // ggml-alloc, compute buffers.
      "ggml_gallocr_reserve_n: failed to allocate CUDA0 buffer of size 292926534144\n"
      "llama_init_from_model: failed to allocate compute buffers\n",
      // Vulkan: what reaches the log callback when the weights do not fit
      // (the driver's own lines go to std::cerr).
      "alloc_tensor_range: failed to allocate Vulkan0 buffer of size 1037832192\n"
      "llama_model_load: error loading model: unable to allocate Vulkan0 buffer\n",
      // The KV cache throws std::bad_alloc on the host.
      "llama_init_from_model: failed to initialize the context: std::bad_alloc\n",
      "ggml_vulkan: Device memory allocation of size 123 failed.\n"
      "ggml_vulkan: vk::Device::allocateMemory: ErrorOutOfDeviceMemory\n",
      "ggml_vulkan: vk::Device::allocateMemory: ErrorOutOfHostMemory\n",
      "ggml_vulkan: vk::Device::allocateDescriptorSets: ErrorOutOfPoolMemory\n",
      "ggml_vulkan: Requested buffer size exceeds device memory allocation limit: "
      "ErrorOutOfDeviceMemory\n"
      "ggml_gallocr_reserve_n: failed to allocate Vulkan0 buffer of size 2166360064\n",
      // CUDA's error macro, e.g. creating a stream or cuBLAS handle.
      "CUDA error: out of memory\n  current device: 0, in function ggml_cuda_set_device at "
      "ggml-cuda.cu:88\n",
  };
  for (const char* log : logs) EXPECT_EQ(ClassifyLoadFailure(log), ErrorCode::kOutOfMemory) << log;
}

TEST(ClassifyLoadFailure, OtherFailuresAreInternal) {
  const char* logs[] = {
      "",
      "llama_model_load: error loading model: tensor 'blk.0.attn_q.weight' data is not within the "
      "file bounds, model is corrupted or incomplete\n",
      "gguf_init_from_file_impl: failed to read magic\n"
      "llama_model_load: error loading model: llama_model_loader: failed to load model from x.gguf\n",
      "llama_model_load: error loading model: error loading model architecture: unknown model "
      "architecture: 'xyz'\n",
      "clip_init: failed to load model 'mmproj.gguf': load_hparams: unknown projector type: foo\n",
  };
  for (const char* log : logs) EXPECT_EQ(ClassifyLoadFailure(log), ErrorCode::kInternal) << log;
}

TEST(ClassifyLoadFailure, AMarkAnywhereInTheLogCounts) {
  // The allocation failure is often not the first error line: the caller's
  // own message follows the allocator's or comes first.
  EXPECT_EQ(ClassifyLoadFailure("llama_model_load: error loading model: something\n"
                                "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 10.00 MiB on "
                                "device 1: cudaMalloc failed: out of memory\n"),
            ErrorCode::kOutOfMemory);
}

// `vigil serve` passes --device auto:<slot> by default; the worker picks
// GPU slot % count among the GPUs it sees.
TEST(AutoDeviceSlot, ParsesTheSlot) {
  EXPECT_EQ(*AutoDeviceSlot("auto:0"), 0);
  EXPECT_EQ(*AutoDeviceSlot("auto:17"), 17);
}

TEST(AutoDeviceSlot, RejectsAnythingElse) {
  for (const char* bad : {"", "auto", "auto:", "auto:-1", "auto:1x", "Vulkan0", "CPU", "auto:99999999999999999999"}) {
    EXPECT_FALSE(AutoDeviceSlot(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace vigil::worker
