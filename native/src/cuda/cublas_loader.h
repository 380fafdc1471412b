// cuBLAS found and loaded at run time (dlopen), like the NCCL loader in comm/nccl_comm.cc.
// Always compiled (pure C++), so the search order and its error are testable without a GPU.
// Search order: TELECHAT_CUBLAS_PATH (a library file or a directory; when set it must work),
// each LD_LIBRARY_PATH directory, the Python wheel directories (site-packages/nvidia/cublas/lib
// for CUDA 12, nvidia/cu13/lib for CUDA 13), then the system loader path.
#pragma once
#include <string>
#include <vector>

#include "cuda/cublas_api.h"

namespace telechat {
namespace cuda {

struct CublasApi {
  cublasCreate_t create = nullptr;
  cublasDestroy_t destroy = nullptr;
  cublasGetProperty_t get_property = nullptr;
  cublasGemmEx_t gemm_ex = nullptr;
};

struct CublasLib {
  std::string path;
  int version = 0;  // major * 10000 + minor * 100 + patch
  CublasApi api;
};

// Candidate library paths in search order (what the error lists).
std::vector<std::string> cublas_search_paths();
// Loaded once; throws std::runtime_error naming every place it looked (retried next call).
const CublasLib& cublas_lib();

}  // namespace cuda
}  // namespace telechat
