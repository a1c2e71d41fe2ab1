// Which BLAS and LAPACK this process really runs on.
//
// Why: Debian's libtorch links libblas.so.3, whose implementation is chosen by update-alternatives;
// on the reference BLAS fp32 matmul is ~30x slower than on OpenBLAS, and nothing else says so.
// Benchmarks print this next to their numbers, and a run on the reference BLAS can warn.
// The answer comes from the process itself: the object that defines sgemm_ (dlsym + dladdr), the
// shared objects loaded (dl_iterate_phdr), their real paths, and OpenBLAS's own config string
// (openblas_get_config, looked up with dlsym: OpenBLAS is never linked directly).
#pragma once
#include <string>
#include <vector>

namespace lmforge {

struct BlasInfo {
  std::string name;          // "OpenBLAS (openmp)", "OpenBLAS (pthread)", "reference BLAS", "MKL", ...
  std::string path;          // real path of the object that provides sgemm_ (or of libblas.so.3)
  bool is_reference = false; // Netlib reference BLAS: correct but very slow
  std::string config;        // openblas_get_config() when OpenBLAS is loaded, else ""
  int blas_threads = -1;     // openblas_get_num_threads() when OpenBLAS is loaded, else -1
  std::string lapack_name;   // same naming, for the object that provides dgetrf_ ("" if none)
  std::string lapack_path;
  std::vector<std::string> loaded;  // real paths of loaded BLAS/LAPACK-like objects, in load order
};

// Inspects the running process (cheap: no BLAS call is made). Never throws; a name of
// "unknown BLAS (file)" or "none loaded" says what could not be classified.
BlasInfo blas_info();

// One line for logs: "OpenBLAS (openmp) /usr/lib/.../libblas.so.3 [OpenBLAS 0.3.21 ...]".
std::string describe(const BlasInfo& info);

// The name for a BLAS/LAPACK object's real path (exposed for tests): "OpenBLAS (openmp)",
// "reference BLAS", "reference LAPACK", "MKL", "BLIS", "ATLAS", or "unknown BLAS (file)".
std::string classify_blas_path(const std::string& real_path, bool* is_reference = nullptr);

}  // namespace lmforge
