// A stand-in libcublas.so.13 for CPU tests: the four symbols our loader resolves, with
// cublasGemmEx implementing the BLAS column-major contract (fp32 only) on host memory. Lets
// the tests load "cuBLAS" through the real search and run the real GEMM plans (gemm_plan.h).
extern "C" {
int cublasCreate_v2(void** handle) {
  *handle = reinterpret_cast<void*>(0x1);
  return 0;
}
int cublasDestroy_v2(void*) { return 0; }
int cublasGetProperty(int type, int* value) {  // reports version 13.1.7
  *value = type == 0 ? 13 : type == 1 ? 1 : 7;
  return 0;
}
int cublasGemmEx(void*, int ta, int tb, int m, int n, int k, const void* alpha, const void* A, int atype, int lda,
                 const void* B, int btype, int ldb, const void* beta, void* C, int ctype, int ldc, int, int) {
  if (atype != 0 || btype != 0 || ctype != 0) return 7;  // CUBLAS_STATUS_INVALID_VALUE: fp32 only here
  const float* a = static_cast<const float*>(A);
  const float* b = static_cast<const float*>(B);
  float* c = static_cast<float*>(C);
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++) {
      double acc = 0;
      for (int p = 0; p < k; p++) {
        const float av = ta ? a[p + i * lda] : a[i + p * lda];  // op(A)(i, p)
        const float bv = tb ? b[j + p * ldb] : b[p + j * ldb];  // op(B)(p, j)
        acc += static_cast<double>(av) * bv;
      }
      c[i + j * ldc] = al * static_cast<float>(acc) + (be == 0.0f ? 0.0f : be * c[i + j * ldc]);
    }
  return 0;
}
}
