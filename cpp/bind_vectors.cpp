// IntVector, FloatVector, StrVector, RecordVector, FloatMatrix.
#include "bind_vector.hpp"

namespace mh {

void bind_vectors(py::module_& m) {
    bind_vector<IntElem>(
        m, {"IntVector",
            "std::vector<int64_t> with a counting allocator; the counterpart of list[int] and array('q').\n"
            "Elements: int, bool (as 0/1, like Python) or anything with __index__ (numpy integers); float, str, "
            "None -> TypeError; outside int64 -> OverflowError. IntVector(x) takes any iterable; an exactly "
            "int64 C-contiguous 1-D buffer is memcpy'd. from_buffer(x) accepts only such a buffer.",
            sizeof(std::vector<int64_t>), 'I'}, true);
    bind_vector<FloatElem>(
        m, {"FloatVector",
            "std::vector<double> with a counting allocator; the counterpart of list[float] and array('d').\n"
            "Elements: float, int, bool or anything with __float__ (like array('d')); str/None -> TypeError. "
            "NaN is stored as is, and like any double NaN never compares equal (so a FloatVector holding NaN is "
            "never == anything, not even itself).",
            sizeof(std::vector<double>), 'F'}, true);
    bind_vector<StrElem>(
        m, {"StrVector",
            "std::vector<std::string> (UTF-8) with counting allocators for the vector and for the heap blocks of "
            "strings longer than 15 bytes (shorter ones live inside the 32-byte string: SSO); the counterpart of "
            "list[str]. Elements must be str: bytes -> TypeError; lone surrogates -> UnicodeEncodeError.",
            sizeof(std::vector<std::string>), 'V'}, false);
    auto rec = bind_vector<RecordElem>(
        m, {"RecordVector",
            "std::vector<Record{int64_t id; double x, y; std::string name;}> with counting allocators; the "
            "counterpart of a list of (id, x, y, name) tuples. Built from an iterable of 4-sequences; "
            "from_objects() reads attributes id, x, y, name (namedtuple, dataclass, __slots__ class).",
            sizeof(std::vector<StdRecord>), 'R'}, false);
    rec.def_static(
            "from_objects",
        [](py::object iterable) {
            auto b = std::make_unique<VecBox<RecordElem>>();
            auto s = b->scope();
            reserve_checked("RecordVector.from_objects", b->data, size_hint(iterable.ptr()));
            for_each_item(iterable.ptr(), [&](PyObject* item) { b->data.push_back(RecordElem::from_attrs(item)); });
            return b;
        },
        py::arg("iterable"), "Build from objects with attributes id, x, y, name.");
    bind_vector<RowElem>(
        m, {"FloatMatrix",
            "std::vector<std::vector<double>> with counting allocators (the outer vector and every row); the "
            "counterpart of list[list[float]]. Rows may differ in length. m[i] -> list, m[i, j] -> float. "
            "from_buffer() takes a 2-D C-contiguous float64 buffer.",
            sizeof(std::vector<std::vector<double>>), 'X'}, false);
}

}  // namespace mh
