// IntIntHashMap, IntIntTreeMap, StrIntHashMap.
#include "bind_nodes.hpp"

namespace mh {

void bind_maps(py::module_& m) {
    bind_map<IntIntHash, IntElem, IntElem>(
        m, {"IntIntHashMap",
            "std::unordered_map<int64_t, int64_t> with a counting allocator; the counterpart of dict[int, int].\n"
            "Built from a mapping or an iterable of (key, value) pairs (later duplicates win, as in dict).",
            sizeof(std::unordered_map<int64_t, int64_t>), 'H'});
    bind_map<IntIntTree, IntElem, IntElem>(
        m, {"IntIntTreeMap",
            "std::map<int64_t, int64_t> (red-black tree, keys in order) with a counting allocator; the counterpart "
            "of dict[int, int].",
            sizeof(std::map<int64_t, int64_t>), 'T'});
    bind_map<StrIntHash, StrElem, IntElem>(
        m, {"StrIntHashMap",
            "std::unordered_map<std::string, int64_t> with counting allocators (nodes, buckets and the heap blocks "
            "of keys longer than 15 bytes); the counterpart of dict[str, int]. Keys must be str (bytes -> TypeError).",
            sizeof(std::unordered_map<std::string, int64_t>), 'M'});
}

}  // namespace mh
