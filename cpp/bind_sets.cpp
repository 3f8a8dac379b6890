// IntHashSet.
#include "bind_nodes.hpp"

namespace mh {

void bind_sets(py::module_& m) {
    bind_set<IntSet, IntElem>(
        m, {"IntHashSet",
            "std::unordered_set<int64_t> with a counting allocator; the counterpart of set[int].\n"
            "Elements: int, bool or anything with __index__ (TypeError for float/str, OverflowError "
            "outside int64).",
            sizeof(std::unordered_set<int64_t>), 'S'});
}

}  // namespace mh
