// BlockSet: n separate malloc blocks of one size, through the counting
// allocator, with deterministic free patterns (the C++ side of the pymalloc
// fragmentation comparison).
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "bind_common.hpp"
#include "convert.hpp"

namespace mh {

namespace {

class BlockSet {
public:
    BlockSet(int64_t block_size, int64_t n, bool touch) {
        prepare_thread();  // see counting_allocator.hpp
        if (block_size < 1) raise(PyExc_ValueError, "BlockSet: block_size must be >= 1, got " + std::to_string(block_size));
        if (n < 0) raise(PyExc_ValueError, "BlockSet: n must be >= 0, got " + std::to_string(n));
        const auto bs = static_cast<std::size_t>(block_size), cnt = static_cast<std::size_t>(n);
        // every block costs at least a whole malloc chunk (header included: 32 bytes at least,
        // not block_size: BlockSet(1, 2**31) needs ~86 GB, not 19) plus the pointer that tracks it
        const std::size_t cost = nominal_chunk(bs) + sizeof(char*);
        check_capacity("BlockSet", cnt, cost, SIZE_MAX);  // (no overflow: n * cost is never computed)
        block_size_ = bs;
        blocks_.reserve(cnt);  // bookkeeping: plain std::allocator, not counted
        CountingAllocator<char> a(&counters_);
        try {
            for (std::size_t i = 0; i < cnt; ++i) {
                char* p = a.allocate(bs);
                blocks_.push_back(p);
                ++live_;
                if (touch) std::memset(p, 0xA5, bs);  // make the pages real, as Python objects are
            }
        } catch (...) {
            free_all();  // the destructor will not run: give back what was taken
            throw;
        }
    }
    ~BlockSet() { free_all(); }
    BlockSet(const BlockSet&) = delete;
    BlockSet& operator=(const BlockSet&) = delete;

    std::size_t free_all() {
        std::size_t freed = 0;
        for (auto& p : blocks_) freed += release(p);
        return freed;
    }
    // Among the live blocks, in order, free those at positions offset, offset+k, ...
    std::size_t free_every(int64_t k, int64_t offset) {
        if (k < 1) raise(PyExc_ValueError, "free_every: k must be >= 1");
        if (offset < 0 || offset >= k) raise(PyExc_ValueError, "free_every: offset must be in [0, k)");
        std::size_t j = 0, freed = 0;
        for (auto& p : blocks_) {
            if (!p) continue;
            if (j % static_cast<std::size_t>(k) == static_cast<std::size_t>(offset)) freed += release(p);
            ++j;
        }
        return freed;
    }
    // Among the live blocks, in order, keep positions 0, k, 2k, ... and free the rest.
    std::size_t keep_one_in(int64_t k) {
        if (k < 1) raise(PyExc_ValueError, "keep_one_in: k must be >= 1");
        std::size_t j = 0, freed = 0;
        for (auto& p : blocks_) {
            if (!p) continue;
            if (j % static_cast<std::size_t>(k) != 0) freed += release(p);
            ++j;
        }
        return freed;
    }
    // Frees round(fraction * live) live blocks chosen by a Fisher-Yates shuffle
    // driven by mt19937_64(seed) (whose output the standard fixes; no
    // std::uniform_int_distribution, whose output it does not).
    std::size_t free_random(double fraction, uint64_t seed) {
        if (!(fraction >= 0.0 && fraction <= 1.0)) raise(PyExc_ValueError, "free_random: fraction must be in [0, 1]");
        std::vector<std::size_t> idx;
        idx.reserve(live_);
        for (std::size_t i = 0; i < blocks_.size(); ++i) {
            if (blocks_[i]) idx.push_back(i);
        }
        const auto m = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(idx.size())));
        std::mt19937_64 rng(seed);
        std::size_t freed = 0;
        for (std::size_t i = 0; i < m; ++i) {
            const std::size_t range = idx.size() - i;
            const uint64_t limit = UINT64_MAX - UINT64_MAX % range;  // rejection: unbiased
            uint64_t r;
            do {
                r = rng();
            } while (r >= limit);
            std::swap(idx[i], idx[i + static_cast<std::size_t>(r % range)]);
            freed += release(blocks_[idx[i]]);
        }
        return freed;
    }
    py::list live_indices() const {
        py::list out;
        for (std::size_t i = 0; i < blocks_.size(); ++i) {
            if (blocks_[i]) out.append(i);
        }
        return out;
    }
    std::size_t live() const noexcept { return live_; }
    std::size_t n() const noexcept { return blocks_.size(); }
    std::size_t block_size() const noexcept { return block_size_; }
    py::dict footprint() const {
        py::dict d = footprint_dict(counters_, sizeof(std::vector<char*>) + blocks_.capacity() * sizeof(char*), live_);
        d["block_size"] = block_size_;
        return d;
    }
    void reset_peak() noexcept { counters_.reset_peak(); }

private:
    std::size_t release(char*& p) noexcept {
        if (!p) return 0;
        CountingAllocator<char>(&counters_).deallocate(p, block_size_);
        p = nullptr;
        --live_;
        return 1;
    }

    Counters counters_;
    std::vector<char*> blocks_;
    std::size_t block_size_ = 0;
    std::size_t live_ = 0;
};

}  // namespace

template <>
struct init_checked<BlockSet> : std::true_type {};  // see init_guard.hpp

void bind_block_set(py::module_& m) {
    py::class_<BlockSet> c(m, "BlockSet",
                         "n blocks of block_size bytes, each its own malloc through the counting allocator.\n"
                         "block_size < 1 or n < 0 -> ValueError; a total beyond physical memory -> MemoryError "
                         "before anything is allocated. touch=True writes every byte (pages become resident).\n"
                         "footprint(): the counters of the blocks alone; 'sizeof' is the bookkeeping (the "
                         "pointer array, not counted in 'requested'), 'n' the live blocks.");
    c.def(py::init([](py::object block_size, py::object n, bool touch) {
                 return std::make_unique<BlockSet>(to_int64(block_size.ptr(), "block_size"),
                                                   to_int64(n.ptr(), "n"), touch);
             }),
             py::arg("block_size"), py::arg("n"), py::arg("touch") = true)
        .def("free_all", &BlockSet::free_all, "Free every live block; returns how many were freed.")
        .def(
            "free_every",
            [](BlockSet& b, py::object k, py::object offset) {
                return b.free_every(to_int64(k.ptr(), "k"), to_int64(offset.ptr(), "offset"));
            },
            py::arg("k"), py::arg("offset") = 0,
            "Among the live blocks in order, free those at positions offset, offset + k, ...; returns the count.")
        .def(
            "keep_one_in", [](BlockSet& b, py::object k) { return b.keep_one_in(to_int64(k.ptr(), "k")); },
            py::arg("k"), "Among the live blocks in order, keep every k-th (positions 0, k, 2k...), free the rest.")
        .def(
            "free_random",
            [](BlockSet& b, double fraction, py::object seed) {
                return b.free_random(fraction, static_cast<uint64_t>(to_int64(seed.ptr(), "seed")));
            },
            py::arg("fraction"), py::arg("seed") = 0,
            "Free round(fraction * live) live blocks chosen deterministically from seed (mt19937_64).")
        .def("live", &BlockSet::live)
        .def("__len__", &BlockSet::live)
        .def_property_readonly("n", &BlockSet::n)
        .def_property_readonly("block_size", &BlockSet::block_size)
        .def("live_indices", &BlockSet::live_indices)
        .def("footprint", &BlockSet::footprint)
        .def("reset_peak", &BlockSet::reset_peak)
        .def("__repr__", [](const BlockSet& b) {
            return "BlockSet(block_size=" + std::to_string(b.block_size()) + ", n=" + std::to_string(b.n()) +
                   ", live=" + std::to_string(b.live()) + ")";
        });
    refuse_pickle(c, "BlockSet");
    refuse_reinit(c);
}

}  // namespace mh
