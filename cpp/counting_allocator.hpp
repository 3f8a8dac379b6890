// Exact byte accounting for the C++ containers of memharness.
//
// Two allocators share one set of counters:
//
// * CountingAllocator<T> is stateful: it holds a pointer to the Counters of the
//   container that owns it. Rebinding keeps the pointer, so the nodes and the
//   bucket array of one unordered_map land in the same Counters. Two
//   allocators compare equal iff they point to the same Counters.
//
// * ScopedCountingAllocator<T> is stateless (an empty class), for the
//   *elements* that own memory themselves: the strings of StrVector,
//   StrIntHashMap and RecordVector, the rows of FloatMatrix. A stateful
//   allocator would make every element 8 bytes bigger than its std::
//   equivalent (sizeof(std::string) 32 -> 40), which would bias the very
//   comparison the harness makes. It counts into the Counters installed on the
//   calling thread by a CountingScope; every method of a container that may
//   allocate or free elements installs one. An allocation or free with no
//   scope is still counted globally and also in `unscoped` (the tests check
//   that it stays 0).
//
// Every allocation is std::malloc'ed and std::free'd, and is counted in the
// container's Counters and in the process-wide atomic global counters:
// requested bytes (n * sizeof(T)), allocated bytes (the glibc chunk of each
// block, header included: what the heap gives up, the unit mallinfo2 counts on
// the Python side; see chunk_of_usable below), usable bytes
// (malloc_usable_size), live allocations, peaks of the requested and allocated
// counts, allocations ever made, and the nominal allocated bytes (see
// nominal_chunk below).
#pragma once

#include <malloc.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <new>
#include <type_traits>
#include <utility>

namespace mh {

struct Counters {
    std::size_t requested = 0;
    std::size_t allocated = 0;
    std::size_t usable = 0;
    std::size_t live = 0;
    std::size_t peak_requested = 0;
    std::size_t peak_allocated = 0;
    std::size_t total = 0;
    std::size_t nominal = 0;

    void on_alloc(std::size_t req, std::size_t chunk, std::size_t use, std::size_t nom) noexcept {
        requested += req;
        allocated += chunk;
        usable += use;
        nominal += nom;
        ++live;
        ++total;
        if (requested > peak_requested) peak_requested = requested;
        if (allocated > peak_allocated) peak_allocated = allocated;
    }
    void on_free(std::size_t req, std::size_t chunk, std::size_t use, std::size_t nom) noexcept {
        requested -= req;
        allocated -= chunk;
        usable -= use;
        nominal -= nom;
        --live;
    }
    void reset_peak() noexcept {
        peak_requested = requested;
        peak_allocated = allocated;
    }
};

struct GlobalCounters {
    std::atomic<std::size_t> requested{0};
    std::atomic<std::size_t> allocated{0};
    std::atomic<std::size_t> usable{0};
    std::atomic<std::size_t> live{0};
    std::atomic<std::size_t> peak_requested{0};
    std::atomic<std::size_t> peak_allocated{0};
    std::atomic<std::size_t> total{0};
    std::atomic<std::size_t> unscoped{0};
    std::atomic<std::size_t> nominal{0};

    static void raise_to(std::atomic<std::size_t>& peak, std::size_t v) noexcept {
        std::size_t cur = peak.load(std::memory_order_relaxed);
        while (v > cur && !peak.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
        }
    }
    void on_alloc(std::size_t req, std::size_t chunk, std::size_t use, std::size_t nom) noexcept {
        nominal.fetch_add(nom, std::memory_order_relaxed);
        usable.fetch_add(use, std::memory_order_relaxed);
        raise_to(peak_requested, requested.fetch_add(req, std::memory_order_relaxed) + req);
        raise_to(peak_allocated, allocated.fetch_add(chunk, std::memory_order_relaxed) + chunk);
        live.fetch_add(1, std::memory_order_relaxed);
        total.fetch_add(1, std::memory_order_relaxed);
    }
    void on_free(std::size_t req, std::size_t chunk, std::size_t use, std::size_t nom) noexcept {
        nominal.fetch_sub(nom, std::memory_order_relaxed);
        usable.fetch_sub(use, std::memory_order_relaxed);
        requested.fetch_sub(req, std::memory_order_relaxed);
        allocated.fetch_sub(chunk, std::memory_order_relaxed);
        live.fetch_sub(1, std::memory_order_relaxed);
    }
    void reset_peak() noexcept {
        peak_requested.store(requested.load(std::memory_order_relaxed), std::memory_order_relaxed);
        peak_allocated.store(allocated.load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
};

// One instance for the whole extension module (an inline function's static
// is shared by all translation units).
inline GlobalCounters& global_counters() noexcept {
    static GlobalCounters g;
    return g;
}

// glibc's chunks (64-bit: an 8-byte size header, chunks aligned to 16 bytes, 32 at least). A
// block served from the heap sits in a chunk of S bytes (a multiple of 16) and has
// malloc_usable_size S - 8; a block served by mmap (above glibc's dynamic mmap threshold) is a
// mapping of S bytes (whole pages) with usable size S - 16. So the usable size alone tells which,
// and gives the chunk: what the heap gives up for the block, the unit of mallinfo2's uordblks
// (heap chunks in use) and hblkhd (mmapped chunks), which the Python side of every ratio counts.
constexpr std::size_t chunk_of_usable(std::size_t usable) noexcept {
    constexpr std::size_t size_sz = sizeof(std::size_t), align = 2 * sizeof(std::size_t);
    return (usable + size_sz) % align == 0 ? usable + size_sz : usable + 2 * size_sz;
}

// "Nominal" allocated bytes: the exactly fitting glibc chunk, max(32, align16(bytes + 8))
// (so 1-24 -> 32, 25-40 -> 48, 41-56 -> 64...), a pure function of the request. The real chunk
// ("allocated") depends on the heap's history: glibc hands out a free chunk whole when splitting
// it would leave less than 32 bytes (16 bytes more than nominal), and serves blocks above its
// dynamic mmap threshold (128 KiB at first, raised when such a block is freed) with whole pages.
// Nominal is what the same program would get from a fresh heap for blocks below that threshold.
constexpr std::size_t nominal_chunk(std::size_t bytes) noexcept {
    const std::size_t chunk = (bytes + sizeof(std::size_t) + 15) & ~static_cast<std::size_t>(15);
    return chunk < 32 ? 32 : chunk;
}
// The usable size of that exactly fitting chunk (8 bytes less).
constexpr std::size_t nominal_usable(std::size_t bytes) noexcept { return nominal_chunk(bytes) - sizeof(std::size_t); }

// Raw counted malloc/free. `c` may be null: then only the global counters see it.
inline void* counted_malloc(std::size_t bytes, Counters* c) {
    void* p = std::malloc(bytes == 0 ? 1 : bytes);
    if (p == nullptr) throw std::bad_alloc();
    const std::size_t usable = malloc_usable_size(p);
    const std::size_t chunk = chunk_of_usable(usable);
    const std::size_t nom = nominal_chunk(bytes == 0 ? 1 : bytes);
    if (c != nullptr) c->on_alloc(bytes, chunk, usable, nom);
    global_counters().on_alloc(bytes, chunk, usable, nom);
    return p;
}

inline void counted_free(void* p, std::size_t bytes, Counters* c) noexcept {
    if (p == nullptr) return;
    const std::size_t usable = malloc_usable_size(p);
    const std::size_t chunk = chunk_of_usable(usable);
    const std::size_t nom = nominal_chunk(bytes == 0 ? 1 : bytes);
    if (c != nullptr) c->on_free(bytes, chunk, usable, nom);
    global_counters().on_free(bytes, chunk, usable, nom);
    std::free(p);
}

template <class T>
std::size_t checked_bytes(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    return n * sizeof(T);
}

// Both allocators default-initialise (instead of value-initialise) on
// construct() with no arguments, so vector::resize(n) of int64/double does
// not zero memory that from_buffer overwrites at once with memcpy. No public
// method exposes resize(); everything else constructs with arguments.
template <class Derived>
struct DefaultInitConstruct {
    template <class U>
    void construct(U* p) noexcept(std::is_nothrow_default_constructible<U>::value) {
        ::new (static_cast<void*>(p)) U;
    }
    template <class U, class... Args>
    void construct(U* p, Args&&... args) {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};

template <class T>
class CountingAllocator : public DefaultInitConstruct<CountingAllocator<T>> {
public:
    using value_type = T;
    // The counters travel with the contents on move assignment and swap, so
    // that they keep describing the memory they counted.
    using propagate_on_container_copy_assignment = std::false_type;
    using propagate_on_container_move_assignment = std::true_type;
    using propagate_on_container_swap = std::true_type;
    using is_always_equal = std::false_type;

    explicit CountingAllocator(Counters* c) noexcept : c_(c) {}
    template <class U>
    CountingAllocator(const CountingAllocator<U>& other) noexcept : c_(other.counters()) {}

    T* allocate(std::size_t n) { return static_cast<T*>(counted_malloc(checked_bytes<T>(n), c_)); }
    void deallocate(T* p, std::size_t n) noexcept { counted_free(p, n * sizeof(T), c_); }

    Counters* counters() const noexcept { return c_; }

    template <class U>
    bool operator==(const CountingAllocator<U>& o) const noexcept { return c_ == o.counters(); }
    template <class U>
    bool operator!=(const CountingAllocator<U>& o) const noexcept { return c_ != o.counters(); }

private:
    Counters* c_;
};

// ---------------------------------------------------------------------------
// Scoped (stateless) counting.

inline Counters*& current_scope() noexcept {
    thread_local Counters* scope = nullptr;
    return scope;
}

// Counters for short-lived lookup keys (e.g. the temporary std::string built to
// find a key in StrIntHashMap): counted globally, never charged to a container.
inline Counters* scratch_counters() noexcept {
    thread_local Counters scratch;
    return &scratch;
}

// Makes the calling thread's thread-local state exist now, while memory is
// there. libstdc++ keeps its per-thread exception state (__cxa_get_globals)
// in thread-local storage, and so does this module (current_scope,
// scratch_counters). Both libraries are dlopen'ed, so that storage is dynamic
// TLS: glibc's ld.so allocates a thread's block lazily, with malloc, at the
// thread's first access, and when that malloc fails it prints "cannot allocate
// memory for thread-local data: ABORT" and exits the process with status 127.
// The first access to libstdc++'s block is the thread's first C++ throw, and
// the throw that matters most comes exactly when memory has run out (a
// MemoryError raised from the middle of to_python()): so a process that had
// never thrown died instead of raising MemoryError.
// Called at import (the importing thread) and at every entry point that can
// reach a throw (the type caster of every container, and the constructors),
// so that any other thread allocates its blocks on its first call, before the
// call allocates anything itself. A few nanoseconds once the blocks exist.
inline void prepare_thread() noexcept {
    // volatile: std::uncaught_exceptions() is declared pure, and the TLS address computations are
    // pure too; with their results unused the compiler would drop the very accesses we need.
    volatile int pending = std::uncaught_exceptions();  // reads __cxa_get_globals(): libstdc++'s block
    Counters* volatile scope = current_scope();           // this module's block
    Counters* volatile scratch = scratch_counters();
    (void)pending;
    (void)scope;
    (void)scratch;
}

class CountingScope {
public:
    explicit CountingScope(Counters* c) noexcept : prev_(current_scope()) { current_scope() = c; }
    ~CountingScope() { current_scope() = prev_; }
    CountingScope(const CountingScope&) = delete;
    CountingScope& operator=(const CountingScope&) = delete;

private:
    Counters* prev_;
};

template <class T>
class ScopedCountingAllocator : public DefaultInitConstruct<ScopedCountingAllocator<T>> {
public:
    using value_type = T;
    using is_always_equal = std::true_type;

    ScopedCountingAllocator() noexcept = default;
    template <class U>
    ScopedCountingAllocator(const ScopedCountingAllocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        Counters* c = current_scope();
        if (c == nullptr) global_counters().unscoped.fetch_add(1, std::memory_order_relaxed);
        return static_cast<T*>(counted_malloc(checked_bytes<T>(n), c));
    }
    void deallocate(T* p, std::size_t n) noexcept {
        Counters* c = current_scope();
        if (c == nullptr) global_counters().unscoped.fetch_add(1, std::memory_order_relaxed);
        counted_free(p, n * sizeof(T), c);
    }

    template <class U>
    bool operator==(const ScopedCountingAllocator<U>&) const noexcept { return true; }
    template <class U>
    bool operator!=(const ScopedCountingAllocator<U>&) const noexcept { return false; }
};

}  // namespace mh
