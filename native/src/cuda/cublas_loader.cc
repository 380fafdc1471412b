// cuBLAS loader: see cublas_loader.h for the search order.
#include "cuda/cublas_loader.h"
#include "dynlib.h"

#include <dlfcn.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace telechat {
namespace cuda {
namespace {

// Newest first: a CUDA 13 driver runs either; the CUDA 12 library needs a >= 12 driver.
const char* const kSoNames[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};

std::vector<std::string> python_dirs() { return python_package_dirs({"nvidia/cu13/lib", "nvidia/cublas/lib"}); }

template <typename F>
void resolve(void* handle, const char* name, F& fn, const std::string& path) {
  void* sym = dlsym(handle, name);
  if (!sym) throw std::runtime_error("cuBLAS at " + path + " lacks " + name + " (need cuBLAS >= 11)");
  fn = reinterpret_cast<F>(sym);
}

// cuBLAS needs cuBLASLt from the same directory; wheel libraries find it through RUNPATH, but
// loading it first (global) also covers copies without one.
void preload_lt(const std::string& cublas_path) {
  const auto slash = cublas_path.rfind('/');
  if (slash == std::string::npos) return;
  const std::string dir = cublas_path.substr(0, slash), file = cublas_path.substr(slash + 1);
  const std::string lt = dir + "/" + std::string("libcublasLt") + file.substr(std::string("libcublas").size());
  dlopen(lt.c_str(), RTLD_NOW | RTLD_GLOBAL);
}

CublasLib open_at(const std::string& path, void* h) {
  CublasLib lib;
  lib.path = path;
  resolve(h, "cublasCreate_v2", lib.api.create, path);
  resolve(h, "cublasDestroy_v2", lib.api.destroy, path);
  resolve(h, "cublasGetProperty", lib.api.get_property, path);
  resolve(h, "cublasGemmEx", lib.api.gemm_ex, path);
  int major = 0, minor = 0, patch = 0;
  lib.api.get_property(TC_MAJOR_VERSION, &major);
  lib.api.get_property(TC_MINOR_VERSION, &minor);
  lib.api.get_property(TC_PATCH_LEVEL, &patch);
  lib.version = major * 10000 + minor * 100 + patch;
  return lib;
}

CublasLib load_cublas() {
  if (const char* p = std::getenv("TELECHAT_CUBLAS_PATH"); p && *p) {
    // An explicit choice must work: no silent fallback to another copy.
    std::string tried;
    const std::vector<std::string> files =
        is_dir(p) ? std::vector<std::string>{std::string(p) + "/" + kSoNames[0], std::string(p) + "/" + kSoNames[1],
                                             std::string(p) + "/" + kSoNames[2]}
                  : std::vector<std::string>{p};
    for (const auto& f : files) {
      preload_lt(f);
      if (void* h = dlopen(f.c_str(), RTLD_NOW | RTLD_LOCAL)) return open_at(f, h);
      const char* why = dlerror();
      tried += (tried.empty() ? "" : "; ") + f + " (" + (why ? why : "unknown error") + ")";
    }
    throw std::runtime_error("cuBLAS not loadable from TELECHAT_CUBLAS_PATH: " + tried);
  }
  const std::vector<std::string> candidates = cublas_search_paths();
  std::string tried;
  for (const auto& c : candidates) {
    if (!tried.empty()) tried += ", ";
    tried += c;
    preload_lt(c);
    if (void* h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL)) return open_at(c, h);
  }
  throw std::runtime_error("cuBLAS not found, looked in: " + tried +
                           " (set TELECHAT_CUBLAS_PATH to libcublas.so.* or its directory, or pip install nvidia-cublas)");
}

}  // namespace

std::vector<std::string> cublas_search_paths() {
  std::vector<std::string> dirs;
  if (const char* p = std::getenv("TELECHAT_CUBLAS_PATH"); p && *p) dirs.push_back(p);
  if (const char* ld = std::getenv("LD_LIBRARY_PATH"))
    for (const auto& d : split_list(ld, ':')) dirs.push_back(d);
  for (const auto& d : python_dirs()) dirs.push_back(d);
  std::vector<std::string> out;
  for (const auto& d : dirs) {
    if (!d.empty() && !is_dir(d) && d.find("libcublas") != std::string::npos) {
      out.push_back(d);  // TELECHAT_CUBLAS_PATH naming the file itself
      continue;
    }
    for (const char* so : kSoNames) out.push_back(d + "/" + so);
  }
  for (const char* so : kSoNames) out.push_back(so);  // the system loader path (ldconfig)
  return out;
}

const CublasLib& cublas_lib() {
  static std::mutex mu;
  static std::unique_ptr<CublasLib> lib;
  std::lock_guard<std::mutex> lock(mu);
  if (!lib) lib = std::make_unique<CublasLib>(load_cublas());
  return *lib;
}

}  // namespace cuda
}  // namespace telechat
