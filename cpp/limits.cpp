// Copy limits timed in C++, with no Python call in the timed loop: what a copy of n bytes can
// cost at best on this machine, in two kinds (every copy figure is a fraction of the same kind):
//   memcpy_warm  memcpy into a destination whose pages are already faulted in (a copy into an
//                existing buffer: numpy.copyto, set_value into a kept buffer)
//   alloc_copy   malloc(n), memcpy into it, free: a copy that allocates (numpy's arr.copy(),
//                from_buffer). Large blocks get the huge-page advice numpy and from_buffer give
//                theirs (caps.hpp); above glibc's mmap threshold every call faults fresh pages in,
//                below it glibc recycles them (faults_per_call tells which).
// Loops are calibrated (doubling, then scaled) until a sample lasts min_time, as
// harness.core.timing.time_call does; the calibration samples count as warmups. Timed with
// std::chrono::steady_clock, the GIL released.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "caps.hpp"
#include "errors.hpp"

namespace mh {
namespace {

// Bytes the kernel says can be allocated without swapping (MemAvailable), else free physical pages.
std::size_t available_memory() {
    std::ifstream f("/proc/meminfo");
    std::string key;
    std::size_t kb = 0;
    std::string unit;
    while (f >> key >> kb >> unit) {
        if (key == "MemAvailable:") return kb * 1024;
    }
    const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return (pages > 0 && page > 0) ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page)
                                   : physical_memory();
}

inline void clobber(void* p) { asm volatile("" : : "r"(p) : "memory"); }  // the copy must happen

long minor_faults() {
    rusage ru{};
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_minflt;
}

struct Copier {
    std::size_t n;
    char* src;
    char* dst;  // memcpy_warm only
    bool alloc;
    bool failed = false;

    // One call of the timed operation.
    void once() {
        if (!alloc) {
            std::memcpy(dst, src, n);
            clobber(dst);
            return;
        }
        void* p = std::malloc(n);
        if (!p) {
            failed = true;
            return;
        }
        advise_hugepages(p, n);
        std::memcpy(p, src, n);
        clobber(p);
        std::free(p);
    }

    double sample(std::size_t number) {
        const auto t0 = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < number && !failed; ++i) once();
        const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
        return dt.count() / static_cast<double>(number);
    }
};

struct Result {
    std::vector<double> values;
    std::size_t number = 1;
    int warmups = 0;
    double faults_per_call = 0.0;
};

Result run(Copier& c, int repeat, double min_time, int warmups, double max_time) {
    Result r;
    for (;;) {  // calibration: each attempt is a warmup
        const double per_call = c.sample(r.number);
        ++r.warmups;
        const double dt = per_call * static_cast<double>(r.number);
        if (c.failed || dt >= min_time || r.number >= (std::size_t(1) << 30)) break;
        const double scaled = static_cast<double>(r.number) * min_time / std::max(dt, 1e-9) * 1.2;
        r.number = std::max(r.number * 2, static_cast<std::size_t>(std::min(scaled, 1e9)));
    }
    for (; r.warmups < warmups && !c.failed; ++r.warmups) c.sample(r.number);
    const long f0 = minor_faults();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(max_time);
    while (!c.failed && static_cast<int>(r.values.size()) < repeat &&
           (r.values.empty() || std::chrono::steady_clock::now() < deadline)) {
        r.values.push_back(c.sample(r.number));
    }
    const double calls = static_cast<double>(r.values.size()) * static_cast<double>(r.number);
    r.faults_per_call = calls > 0 ? static_cast<double>(minor_faults() - f0) / calls : 0.0;
    return r;
}

void check_args(const std::string& kind, int64_t nbytes, int repeat, double min_time, int warmups) {
    const std::string where = "copy_limit";
    if (kind != "memcpy_warm" && kind != "alloc_copy") {
        raise(PyExc_ValueError, where + ": unknown kind '" + kind + "' (choose memcpy_warm or alloc_copy)");
    }
    if (nbytes <= 0) raise(PyExc_ValueError, where + ": nbytes must be > 0, got " + std::to_string(nbytes));
    if (repeat < 1 || repeat > 10000) raise(PyExc_ValueError, where + ": repeat must be 1..10000");
    if (warmups < 0 || warmups > 1000) raise(PyExc_ValueError, where + ": warmups must be 0..1000");
    if (!(min_time > 0.0 && min_time <= 60.0)) raise(PyExc_ValueError, where + ": min_time must be in (0, 60] s");
    const std::size_t n = static_cast<std::size_t>(nbytes), avail = available_memory();
    if (n > avail / 2) {
        raise(PyExc_MemoryError, where + ": 2 x " + std::to_string(n) + " bytes (source and destination) exceed "
                                     "the available memory (" + std::to_string(avail) + " bytes)");
    }
}

py::dict copy_limit(const std::string& kind, int64_t nbytes, int repeat, double min_time, int warmups,
                    double max_time) {
    check_args(kind, nbytes, repeat, min_time, warmups);
    const std::size_t n = static_cast<std::size_t>(nbytes);
    const bool alloc = kind == "alloc_copy";
    char* src = static_cast<char*>(std::malloc(n));
    char* dst = alloc ? nullptr : static_cast<char*>(std::malloc(n));
    if (!src || (!alloc && !dst)) {
        std::free(src);
        std::free(dst);
        raise(PyExc_MemoryError, "copy_limit: cannot allocate 2 x " + std::to_string(n) + " bytes");
    }
    Copier c{n, src, dst, alloc};
    Result r;
    {
        py::gil_scoped_release nogil;
        std::memset(src, 1, n);  // every page of both buffers faulted in before timing
        if (dst) std::memset(dst, 0, n);
        r = run(c, repeat, min_time, warmups, max_time);
        std::free(src);
        std::free(dst);
    }
    if (c.failed) raise(PyExc_MemoryError, "copy_limit: malloc(" + std::to_string(n) + ") failed while timing");
    py::dict d;
    d["kind"] = kind;
    d["bytes"] = nbytes;
    d["values"] = r.values;
    d["number"] = r.number;
    d["warmups"] = r.warmups;
    d["faults_per_call"] = r.faults_per_call;
    d["timer"] = "std::chrono::steady_clock";
    return d;
}

}  // namespace

void bind_limits(py::module_& m) {
    m.def("copy_limit", &copy_limit, py::arg("kind"), py::arg("nbytes"), py::arg("repeat") = 5,
          py::arg("min_time") = 0.01, py::arg("warmups") = 1, py::arg("max_time") = 10.0,
          "Time a copy of nbytes in C++ (no Python call in the timed loop, GIL released): kind 'memcpy_warm' "
          "(memcpy into a destination already faulted in) or 'alloc_copy' (malloc, memcpy, free; huge-page "
          "advice from 4 MiB as numpy gives). Loops calibrated so a sample lasts min_time (calibration samples "
          "count as warmups). Returns {kind, bytes, values (seconds per call, one a sample), number (calls per "
          "sample), warmups, faults_per_call (minor page faults per timed call), timer}. ValueError on bad "
          "arguments, MemoryError when 2 x nbytes exceed the available memory (MemAvailable).");
}

}  // namespace mh
