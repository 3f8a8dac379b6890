// Memory caps: every size the extension is given (a count, a size hint, a
// buffer, a pickle state) is checked against max_size() and physical memory
// before anything is allocated (MemoryError). And the huge-page advice for
// large blocks about to be filled.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "errors.hpp"
#include "traits.hpp"

namespace mh {

inline std::size_t physical_memory() noexcept {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0) return std::numeric_limits<std::size_t>::max();
    return static_cast<std::size_t>(pages) * static_cast<std::size_t>(page);
}

// Raises MemoryError when n items exceed `max_items` (the container's
// max_size()), or when n items of `item_bytes` each cannot fit in physical
// memory (sysconf: _SC_PHYS_PAGES * _SC_PAGE_SIZE; no overflow: n * item_bytes
// is never computed); the message says which. Called before allocating.
inline void check_capacity(const char* where, std::size_t n, std::size_t item_bytes, std::size_t max_items) {
    if (n > max_items) {
        raise(PyExc_MemoryError, std::string(where) + ": " + std::to_string(n) + " items exceed max_size() (" +
                                     std::to_string(max_items) + ")");
    }
    const std::size_t phys = physical_memory();
    if (item_bytes != 0 && n > phys / item_bytes) {
        raise(PyExc_MemoryError, std::string(where) + ": " + std::to_string(n) + " items of at least " +
                                     std::to_string(item_bytes) + " bytes would exceed physical memory (" +
                                     std::to_string(phys) + " bytes)");
    }
}

// MemoryError (before anything is allocated) unless c can hold n elements
// (element_bytes: traits.hpp).
template <class C>
void check_room(const char* where, const C& c, std::size_t n) {
    check_capacity(where, n, element_bytes<C>(), c.max_size());
}

// c.reserve(n) once check_room passed: every reserve the extension makes from a
// size it was given (reserve(), a size hint, a count in a pickle state).
template <class C>
void reserve_checked(const char* where, C& c, std::size_t n) {
    check_room(where, c, n);
    c.reserve(n);
}

// Large fresh blocks about to be filled completely (from_buffer): ask for
// transparent huge pages, as numpy does for its own arrays of 4 MiB or more,
// so that first touch costs one page fault per 2 MiB instead of per 4 KiB.
// Every byte is written at once, so this does not inflate RSS.
inline void advise_hugepages(void* p, std::size_t bytes) noexcept {
#if defined(MADV_HUGEPAGE)
    if (bytes < (std::size_t(1) << 22)) return;
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGE_SIZE));
    const auto start = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t aligned = (start + page - 1) & ~(static_cast<std::uintptr_t>(page) - 1);
    if (aligned - start >= bytes) return;
    madvise(reinterpret_cast<void*>(aligned), bytes - (aligned - start), MADV_HUGEPAGE);  // advisory: ignore errors
#else
    (void)p;
    (void)bytes;
#endif
}

}  // namespace mh
