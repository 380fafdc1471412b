// Where libraries loaded at run time with dlopen (NCCL, cuBLAS) are looked for: helpers shared
// by their loaders. Python wheels (nvidia-nccl-cu12, nvidia-cublas-...) install them under
// site-packages/nvidia/<package>/lib; those directories are listed even when absent, so the
// "not found" error shows every place that was searched.
#pragma once
#include <glob.h>
#include <sys/stat.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace telechat {

inline bool is_dir(const std::string& p) {
  struct stat st{};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/** Non-empty parts of a `sep`-separated list (e.g. LD_LIBRARY_PATH). */
inline std::vector<std::string> split_list(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

/** site-packages/<sub> for every usual Python install (system, user, venv, conda), globbed. */
inline std::vector<std::string> python_package_dirs(const std::vector<std::string>& subs) {
  std::vector<std::string> roots = {"/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages",
                                    "/usr/lib/python3*/dist-packages", "/usr/lib/python3/dist-packages",
                                    "/opt/conda/lib/python3*/site-packages"};
  if (const char* home = std::getenv("HOME")) roots.push_back(std::string(home) + "/.local/lib/python3*/site-packages");
  if (const char* venv = std::getenv("VIRTUAL_ENV")) roots.push_back(std::string(venv) + "/lib/python3*/site-packages");
  if (const char* conda = std::getenv("CONDA_PREFIX")) roots.push_back(std::string(conda) + "/lib/python3*/site-packages");
  // a venv whose bin/ is on PATH without being activated (VIRTUAL_ENV unset), e.g. an image's
  // /opt/torch/.venv/bin, where a plain `python3` is the one with PyTorch's nvidia packages
  if (const char* path = std::getenv("PATH")) {
    for (const auto& d : split_list(path, ':')) {
      const size_t slash = d.find_last_of('/');
      if (slash != std::string::npos && slash > 0 && d.compare(slash + 1, std::string::npos, "bin") == 0) {
        roots.push_back(d.substr(0, slash) + "/lib/python3*/site-packages");
      }
    }
  }
  std::vector<std::string> dirs;
  const auto add = [&dirs](const std::string& d) {  // once each (PATH's /usr/bin repeats /usr/lib's root)
    for (const auto& have : dirs)
      if (have == d) return;
    dirs.push_back(d);
  };
  for (const auto& r : roots) {
    for (const auto& sub : subs) {
      const std::string p = r + "/" + sub;
      glob_t g{};
      if (glob(p.c_str(), 0, nullptr, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) add(g.gl_pathv[i]);
      } else {
        add(p);
      }
      globfree(&g);
    }
  }
  return dirs;
}

}  // namespace telechat
