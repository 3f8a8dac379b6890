// The dicts footprint() and global_counters() return.
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>

#include "counting_allocator.hpp"

namespace mh {

namespace py = pybind11;


inline py::dict counters_dict(std::size_t requested, std::size_t allocated, std::size_t usable, std::size_t live,
                              std::size_t peak_requested, std::size_t peak_allocated, std::size_t total) {
    py::dict d;
    d["requested"] = requested;
    d["allocated"] = allocated;
    d["usable"] = usable;
    d["live_allocations"] = live;
    d["peak_requested"] = peak_requested;
    d["peak_allocated"] = peak_allocated;
    d["total_allocations"] = total;
    return d;
}

inline py::dict footprint_dict(const Counters& c, std::size_t sizeof_, std::size_t n) {
    py::dict d = counters_dict(c.requested, c.allocated, c.usable, c.live, c.peak_requested, c.peak_allocated, c.total);
    d["allocated_nominal"] = c.nominal;
    d["sizeof"] = sizeof_;
    d["n"] = n;
    return d;
}

}  // namespace mh
