// The few cuBLAS C declarations we call, written from cuBLAS's documented ABI (cublas_api.h,
// CUDA 11-13) so the build needs no cuBLAS. Resolved with dlsym from libcublas at run time.
#pragma once

extern "C" {
typedef struct cublasContext* cublasHandle_t;
typedef int cublasStatus_t;  // CUBLAS_STATUS_SUCCESS = 0
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { TC_CUDA_R_32F = 0, TC_CUDA_R_16F = 2, TC_CUDA_R_16BF = 14 } tc_cudaDataType;  // cudaDataType_t values
typedef enum { TC_CUBLAS_COMPUTE_32F = 68 } tc_cublasComputeType;                           // cublasComputeType_t
typedef enum { TC_CUBLAS_GEMM_DEFAULT = -1 } tc_cublasGemmAlgo;                              // cublasGemmAlgo_t
typedef enum { TC_MAJOR_VERSION = 0, TC_MINOR_VERSION = 1, TC_PATCH_LEVEL = 2 } tc_libraryPropertyType;

typedef cublasStatus_t (*cublasCreate_t)(cublasHandle_t*);
typedef cublasStatus_t (*cublasDestroy_t)(cublasHandle_t);
typedef cublasStatus_t (*cublasGetProperty_t)(int type, int* value);
typedef cublasStatus_t (*cublasGemmEx_t)(cublasHandle_t, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                                         int k, const void* alpha, const void* A, int Atype, int lda, const void* B,
                                         int Btype, int ldb, const void* beta, void* C, int Ctype, int ldc,
                                         int computeType, int algo);
}
