// Which BLAS and LAPACK this process really runs on: see blas_info.h.
#include "lmforge/core/blas_info.h"

#include <dlfcn.h>
#include <link.h>
#include <limits.h>
#include <stdlib.h>

#include <sstream>

namespace lmforge {

namespace {

std::string real_path(const char* p) {
  if (p == nullptr || *p == '\0') return "";
  char buf[PATH_MAX];
  if (realpath(p, buf) != nullptr) return buf;
  return p;
}

std::string basename_of(const std::string& p) {
  size_t s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

// The real path of the loaded object that defines `symbol` in the global scope, or "".
std::string provider_of(const char* symbol) {
  void* addr = dlsym(RTLD_DEFAULT, symbol);
  if (addr == nullptr) return "";
  Dl_info info;
  if (dladdr(addr, &info) == 0 || info.dli_fname == nullptr) return "";
  return real_path(info.dli_fname);
}

bool looks_like_blas(const std::string& base) {
  for (const char* k : {"blas", "lapack", "mkl", "blis", "atlas", "flexiblas", "accelerate"})
    if (contains(base, k)) return true;
  return false;
}

int collect_loaded(struct dl_phdr_info* info, size_t, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  std::string path = real_path(info->dlpi_name);
  if (!path.empty() && looks_like_blas(basename_of(path))) out->push_back(path);
  return 0;
}

}  // namespace

std::string classify_blas_path(const std::string& path, bool* is_reference) {
  if (is_reference) *is_reference = false;
  std::string base = basename_of(path);
  if (contains(path, "openblas")) {
    if (contains(path, "openmp")) return "OpenBLAS (openmp)";
    if (contains(path, "pthread")) return "OpenBLAS (pthread)";
    if (contains(path, "serial")) return "OpenBLAS (serial)";
    return "OpenBLAS";
  }
  if (contains(path, "mkl")) return "MKL";
  if (contains(path, "blis")) return "BLIS";
  if (contains(path, "atlas")) return "ATLAS";
  if (contains(path, "flexiblas")) return "FlexiBLAS";
  // Debian's Netlib packages live in .../blas/ and .../lapack/ (libblas3, liblapack3).
  if (contains(path, "/blas/") || base.rfind("libblas.so", 0) == 0) {
    if (is_reference) *is_reference = true;
    return "reference BLAS";
  }
  if (contains(path, "/lapack/") || base.rfind("liblapack.so", 0) == 0) {
    if (is_reference) *is_reference = true;
    return "reference LAPACK";
  }
  return "unknown BLAS (" + base + ")";
}

BlasInfo blas_info() {
  BlasInfo r;
  dl_iterate_phdr(collect_loaded, &r.loaded);

  r.path = provider_of("sgemm_");
  if (r.path.empty()) r.path = provider_of("cblas_sgemm");
  if (r.path.empty()) {
    for (const auto& p : r.loaded)
      if (basename_of(p).rfind("libblas.so", 0) == 0 || contains(p, "libopenblas")) {
        r.path = p;
        break;
      }
  }
  if (r.path.empty()) {
    r.name = "none loaded";
  } else {
    r.name = classify_blas_path(r.path, &r.is_reference);
  }

  r.lapack_path = provider_of("dgetrf_");
  if (!r.lapack_path.empty()) {
    r.lapack_name = classify_blas_path(r.lapack_path);
    if (r.lapack_name == "reference BLAS") r.lapack_name = "reference LAPACK";
  }

  using config_fn = char* (*)();
  using threads_fn = int (*)();
  if (auto get_config = reinterpret_cast<config_fn>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
    const char* c = get_config();
    if (c != nullptr) r.config = c;
  }
  if (auto get_threads = reinterpret_cast<threads_fn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads")))
    r.blas_threads = get_threads();
  if (r.name.rfind("unknown", 0) == 0 && !r.config.empty()) r.name = "OpenBLAS";
  return r;
}

std::string describe(const BlasInfo& info) {
  std::ostringstream os;
  os << info.name;
  if (!info.path.empty()) os << " " << info.path;
  if (!info.config.empty()) os << " [" << info.config << "]";
  if (!info.lapack_name.empty() && info.lapack_path != info.path)
    os << "; LAPACK: " << info.lapack_name << " " << info.lapack_path;
  return os.str();
}

}  // namespace lmforge
