// harness._containers: C++ containers with exact, counted memory.
#include <pybind11/pybind11.h>

#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "caps.hpp"
#include "convert.hpp"
#include "counting_allocator.hpp"
#include "errors.hpp"
#include "footprint.hpp"
#include "types.hpp"

namespace mh {
void bind_vectors(py::module_& m);
void bind_maps(py::module_& m);
void bind_sets(py::module_& m);
void bind_block_set(py::module_& m);
void bind_limits(py::module_& m);

namespace {

py::dict global_counters_dict() {
    const GlobalCounters& g = global_counters();
    py::dict d = counters_dict(g.requested.load(), g.allocated.load(), g.usable.load(), g.live.load(), g.peak_requested.load(),
                               g.peak_allocated.load(), g.total.load());
    d["allocated_nominal"] = g.nominal.load();
    d["unscoped_allocations"] = g.unscoped.load();
    return d;
}

// malloc_usable_size of a fresh malloc(n) block.
std::size_t usable_size(int64_t n) {
    prepare_thread();  // a failing malloc below throws: see counting_allocator.hpp
    if (n < 0) raise(PyExc_ValueError, "usable_size: n must be >= 0");
    check_capacity("usable_size", static_cast<std::size_t>(n), 1, SIZE_MAX);
    void* p = std::malloc(n == 0 ? 1 : static_cast<std::size_t>(n));
    if (!p) throw std::bad_alloc();
    const std::size_t u = malloc_usable_size(p);
    std::free(p);
    return u;
}

bool sanitized() {
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

py::dict build_info() {
    py::dict d;
#if defined(__clang__)
    d["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    d["compiler"] = std::string("gcc ") + __VERSION__;
#else
    d["compiler"] = "unknown";
#endif
    d["cplusplus"] = static_cast<long>(__cplusplus);
    d["cxx_standard"] = __cplusplus >= 202002L ? "c++20" : __cplusplus >= 201703L ? "c++17" : "older";
    d["sanitizer"] = sanitized();
#ifdef NDEBUG
    d["ndebug"] = true;
#else
    d["ndebug"] = false;
#endif
#ifdef __OPTIMIZE__
    d["optimized"] = true;
#else
    d["optimized"] = false;
#endif
#ifdef _GLIBCXX_RELEASE
    d["libstdcxx"] = static_cast<long>(_GLIBCXX_RELEASE);
#else
    d["libstdcxx"] = py::none();
#endif
#ifdef __GLIBC__
    d["glibc"] = std::to_string(__GLIBC__) + "." + std::to_string(__GLIBC_MINOR__);
#else
    d["glibc"] = py::none();
#endif
    d["pybind11"] = std::to_string(PYBIND11_VERSION_MAJOR) + "." + std::to_string(PYBIND11_VERSION_MINOR) + "." +
                    std::to_string(PYBIND11_VERSION_PATCH);
    d["physical_memory"] = physical_memory();

    return d;
}

// Node sizes measured through the counting allocator: what one element adds.
std::size_t node_map_int() {
    Counters c;
    IntIntTree t{CA<std::pair<const int64_t, int64_t>>(&c)};
    t.emplace(1, 1);
    return c.requested;
}
template <class H, class F>
std::size_t node_hashed(F insert_one) {
    Counters c;
    CountingScope s(&c);
    H h{typename H::allocator_type(&c)};
    h.reserve(8);  // the bucket array first, so that the insert adds the node alone
    const std::size_t before = c.requested;
    insert_one(h);
    return c.requested - before;
}

py::dict sizeof_info() {
    py::dict d;
    d["pointer"] = sizeof(void*);
    d["int64"] = sizeof(int64_t);
    d["double"] = sizeof(double);
    d["std::string"] = sizeof(std::string);
    d["counted_string"] = sizeof(cstring);
    d["sso_capacity"] = std::string().capacity();
    d["Record"] = sizeof(Record);
    d["StdRecord"] = sizeof(StdRecord);
    d["std::vector<int64_t>"] = sizeof(std::vector<int64_t>);
    d["counted_vector"] = sizeof(IntVec);
    d["std::map<int64_t,int64_t>"] = sizeof(std::map<int64_t, int64_t>);
    d["std::unordered_map<int64_t,int64_t>"] = sizeof(std::unordered_map<int64_t, int64_t>);
    d["std::unordered_set<int64_t>"] = sizeof(std::unordered_set<int64_t>);
    d["std::unordered_map<std::string,int64_t>"] = sizeof(std::unordered_map<std::string, int64_t>);
    d["map_node_int_int"] = node_map_int();
    d["hash_node_int_int"] =
        node_hashed<IntIntHash>([](IntIntHash& h) { h.emplace(1, 1); });
    d["hash_node_int"] = node_hashed<IntSet>([](IntSet& h) { h.insert(1); });
    d["hash_node_str_int"] = node_hashed<StrIntHash>([](StrIntHash& h) { h.emplace(cstring("k"), 1); });
#if defined(__GLIBCXX__)
    // libstdc++'s own node types for the std::allocator containers (internal
    // names, reported only to cross-check the measured sizes above)
    using std::__detail::_Hash_node;
    d["libstdcxx_map_node_int_int"] = sizeof(std::_Rb_tree_node<std::pair<const int64_t, int64_t>>);
    d["libstdcxx_hash_node_int_int"] =
        sizeof(_Hash_node<std::pair<const int64_t, int64_t>, std::__cache_default<int64_t, std::hash<int64_t>>::value>);
    d["libstdcxx_hash_node_int"] = sizeof(_Hash_node<int64_t, std::__cache_default<int64_t, std::hash<int64_t>>::value>);
    d["libstdcxx_hash_node_str_int"] =
        sizeof(_Hash_node<std::pair<const std::string, int64_t>,
                          std::__cache_default<std::string, std::hash<std::string>>::value>);
#endif
    return d;
}

}  // namespace
}  // namespace mh

PYBIND11_MODULE(_containers, m) {
    namespace py = pybind11;
    // The importing thread's TLS blocks now, while memory is there: its first C++ throw may come
    // when memory is exhausted, and allocating them then aborts the process (counting_allocator.hpp).
    mh::prepare_thread();
    m.doc() = R"doc(memharness C++ containers: std containers whose every heap byte is counted.

Each container (IntVector, FloatVector, StrVector, RecordVector, FloatMatrix,
IntIntHashMap, IntIntTreeMap, StrIntHashMap, IntHashSet) owns its counters;
footprint() returns:
  requested          sum of n * sizeof(T) over live allocations (exact)
  allocated          sum of the glibc chunks of the live allocations, header
                     included (what the heap gives up: the unit mallinfo2
                     counts); depends on the heap's history (glibc may hand
                     out a free chunk up to 16 bytes bigger; whole pages above
                     its mmap threshold)
  usable             sum of malloc_usable_size over live allocations (8 bytes
                     less than the chunk per heap block, 16 per mmapped one)
  allocated_nominal  sum of max(32, align16(request + 8)): glibc's exact-fit
                     chunk, a pure function of the requests (deterministic)
  live_allocations, peak_requested, peak_allocated, total_allocations (ever)
  sizeof             sizeof the equivalent std:: container object (with
                     std::allocator; the counted one holds 8 more bytes: the
                     pointer to its counters)
  n                  len()
global_counters() sums every counting allocator in the process (atomics).

Input rules: ints are int, bool or anything with __index__ (float -> TypeError,
outside int64 -> OverflowError); floats are anything float() accepts except
str (NaN is stored and never compares equal); strings are str only (bytes ->
TypeError), stored as UTF-8. Wrong sizes -> ValueError / MemoryError (checked
against physical memory before allocating), bad indices -> IndexError,
missing keys -> KeyError, strided or mistyped buffers in from_buffer ->
ValueError. IntVector/FloatVector.copy_from_buffer(buf) copies exactly len(v)
elements into the existing storage (nothing allocated). copy_limit(kind, n)
times memcpy into a warm buffer or malloc+memcpy+free in C++ (the copy limits). Pickle states are compact bytes, validated on load (ValueError).

An instance made with cls.__new__(cls) and never initialised raises TypeError
("cls.__init__ was not called") when used, instead of reading uninitialised
memory (pybind11 3.1 does not check, issue #6153; see init_guard.hpp); and
__init__ or __setstate__ called again on a built instance raises TypeError
(pybind11 would ignore the call). reserve(n) of a hashed container counts n
nodes, not only the buckets; a zero-width buffer gives FloatMatrix at most
1 MiB of empty rows (ValueError beyond). Memory exhausted in the middle of a
call (to_python under ulimit -v) raises MemoryError.)doc";
    mh::bind_vectors(m);
    mh::bind_maps(m);
    mh::bind_sets(m);
    mh::bind_block_set(m);
    mh::bind_limits(m);
    m.def("global_counters", &mh::global_counters_dict,
          "Counters summed over every counting allocator in the process (atomic): requested, allocated, "
          "usable, live_allocations, peak_requested, peak_allocated, total_allocations, allocated_nominal, and "
          "unscoped_allocations "
          "(allocations or frees of container elements made outside any container's scope: 0 unless there is a bug).");
    m.def("reset_global_peak", []() { mh::global_counters().reset_peak(); },
          "Set the global peaks to the current values.");
    m.def(
        "usable_size", [](py::object n) { return mh::usable_size(mh::to_int64(n.ptr(), "n")); }, py::arg("n"),
        "malloc_usable_size of a fresh malloc(n) block: what 'allocated' counts for a request of n bytes. It "
        "depends on the heap's state (a whole free chunk up to 16 bytes bigger; whole pages above glibc's "
        "dynamic mmap threshold).");
    m.def(
        "chunk_size",
        [](py::object n) { return mh::chunk_of_usable(mh::usable_size(mh::to_int64(n.ptr(), "n"))); },
        py::arg("n"),
        "The glibc chunk of a fresh malloc(n) block, header included: what 'allocated' counts for a request "
        "of n bytes (usable_size + 8 for a heap chunk, the whole mapping above the mmap threshold).");
    m.def(
        "nominal_chunk_size",
        [](py::object n) {
            const int64_t k = mh::to_int64(n.ptr(), "n");
            if (k < 0) mh::raise(PyExc_ValueError, "nominal_chunk_size: n must be >= 0");
            return mh::nominal_chunk(k == 0 ? 1 : static_cast<std::size_t>(k));
        },
        py::arg("n"),
        "What 'allocated_nominal' counts for a request of n bytes: max(32, align16(n + 8)), glibc's exact-fit "
        "chunk, a pure function of n (nothing is allocated).");
    m.def(
        "nominal_usable_size",
        [](py::object n) {
            const int64_t k = mh::to_int64(n.ptr(), "n");
            if (k < 0) mh::raise(PyExc_ValueError, "nominal_usable_size: n must be >= 0");
            return mh::nominal_usable(k == 0 ? 1 : static_cast<std::size_t>(k));
        },
        py::arg("n"),
        "max(32, align16(n + 8)) - 8: the usable size of glibc's exact-fit chunk for n bytes, a pure "
        "function of n (nothing is allocated).");
    m.def("physical_memory", &mh::physical_memory, "Bytes of physical memory (the cap for reserve and BlockSet).");
    m.def("build_info", &mh::build_info, "Compiler, C++ standard, sanitizer, NDEBUG, libstdc++/glibc/pybind11 versions.");
    m.def("sizeof_info", &mh::sizeof_info,
          "sizeof of std types and node sizes measured through the counting allocator (plus libstdc++'s own "
          "node types for the std::allocator equivalents, to cross-check).");
}
