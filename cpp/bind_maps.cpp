// IntIntHashMap, IntIntTreeMap, StrIntHashMap, IntHashSet.
#include "containers.hpp"

namespace mh {

namespace {

using SetBox = Box<IntSet>;

void fill_set_from_iterable(SetBox& b, PyObject* o) {
    reserve_checked("IntHashSet", b.data, size_hint(o));
    for_each_item(o, [&](PyObject* item) { b.data.insert(to_int64(item, "IntHashSet element")); });
}

bool fill_set_from_buffer(SetBox& b, PyObject* o, bool strict) {
    BufferView bv;
    if (strict) {
        get_strict_buffer(bv, o, 'i', 1, "IntHashSet.from_buffer");
    } else {
        if (!PyObject_CheckBuffer(o) || PyBytes_Check(o) || PyByteArray_Check(o)) return false;
        if (!bv.get(o)) {
            PyErr_Clear();
            return false;
        }
        const Py_buffer& v = bv.view();
        if (!format_matches(v, 'i') || v.ndim != 1 || !PyBuffer_IsContiguous(&v, 'C')) return false;
    }
    const Py_buffer& v = bv.view();
    const std::size_t n = static_cast<std::size_t>(v.len) / 8;
    check_room("IntHashSet.from_buffer", b.data, n);  // here: reserved below, with the GIL released
    const char* src = static_cast<const char*>(v.buf);
    {
        py::gil_scoped_release nogil;
        b.data.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            int64_t x;
            std::memcpy(&x, src + 8 * i, 8);
            b.data.insert(x);
        }
    }
    return true;
}

void bind_set(py::module_& m) {
    using B = SetBox;
    const char* cls = "IntHashSet";
    bind_node_iter<IntSet, IntElem>(m, cls);
    py::class_<B> c(m, cls,
                    "std::unordered_set<int64_t> with a counting allocator; the counterpart of set[int].\n"
                    "Elements: int, bool or anything with __index__ (TypeError for float/str, OverflowError "
                    "outside int64).");
    c.def(py::init([]() { return std::make_unique<B>(); }))
        .def(py::init([](py::object src) {
                 auto b = std::make_unique<B>();
                 auto s = b->scope();
                 if (!fill_set_from_buffer(*b, src.ptr(), false)) fill_set_from_iterable(*b, src.ptr());
                 return b;
             }),
             py::arg("iterable"))
        .def_static(
            "from_buffer",
            [](py::object obj) {
                auto b = std::make_unique<B>();
                auto s = b->scope();
                fill_set_from_buffer(*b, obj.ptr(), true);
                return b;
            },
            py::arg("buffer"), "Insert every int64 of a 1-D C-contiguous buffer (GIL released). ValueError otherwise.")
        .def("__len__", [](const B& b) { return b.data.size(); })
        .def("__contains__",
             [](const B& b, py::object key) {
                 bool found = false;
                 IntElem::lookup(key.ptr(), [&](int64_t k) { found = b.data.count(k) != 0; });
                 return found;
             })
        .def("__iter__",
             [](py::object self) {
                 B& b = self.cast<B&>();
                 return NodeIter<IntSet>{self, &b, b.data.cbegin(), b.version};
             })
        .def("add",
             [](B& b, py::object v) {
                 if (b.data.insert(to_int64(v.ptr(), "IntHashSet element")).second) ++b.version;
             },
             py::arg("value"))
        .def("discard",
             [](B& b, py::object v) {
                 IntElem::lookup(v.ptr(), [&](int64_t k) {
                     if (b.data.erase(k)) ++b.version;
                 });
             },
             py::arg("value"))
        .def("remove",
             [](B& b, py::object v) {
                 bool erased = false;
                 IntElem::lookup(v.ptr(), [&](int64_t k) { erased = b.data.erase(k) != 0; });
                 if (!erased) throw py::key_error(py::repr(v).cast<std::string>());
                 ++b.version;
             },
             py::arg("value"))
        .def("clear",
             [](B& b) {
                 b.data.clear();
                 ++b.version;
             })
        .def("to_python",
             [](const B& b) {
                 py::object s = steal_or_throw(PySet_New(nullptr));
                 for (int64_t k : b.data) {
                     if (PySet_Add(s.ptr(), int_to_py(k).ptr()) != 0) throw_py_error();
                 }
                 return s;
             })
        .def("__eq__",
             [cls](const B& b, py::object other) -> py::object {
                 if (py::isinstance<B>(other)) return py::bool_(b.data == other.cast<const B&>().data);
                 PyObject* o = other.ptr();
                 if (!PyAnySet_Check(o)) return not_implemented();
                 if (static_cast<std::size_t>(PySet_GET_SIZE(o)) != b.data.size()) return py::bool_(false);
                 // PySet_Contains may run Python code (__eq__ of the set's elements) that changes
                 // this set: eq_each checks after each element.
                 return eq_each(b, cls, [o](int64_t k) {
                     const int r = PySet_Contains(o, int_to_py(k).ptr());
                     if (r < 0) throw_py_error();
                     return r == 1;
                 });
             })
        .def("__repr__", [](const B& b) { return short_repr<IntElem>("IntHashSet", b.data); })
        .def("footprint", [](const B& b) { return footprint_of(b, sizeof(std::unordered_set<int64_t>)); })
        .def("reset_peak", [](B& b) { b.counters->reset_peak(); })
        .def(py::pickle(
            [](const B& b) {
                StateWriter w('S', varint_size(b.data.size()) + 8 * b.data.size());
                w.varint(b.data.size());
                for (int64_t k : b.data) w.i64(k);
                return w.finish();
            },
            [](const py::bytes& state) {
                auto b = std::make_unique<B>();
                StateReader r(state, 'S', "IntHashSet");
                const std::size_t n = r.count(8);
                reserve_checked("IntHashSet", b->data, n);
                for (std::size_t i = 0; i < n; ++i) {
                    if (!b->data.insert(r.i64()).second) r.fail("duplicate element");
                }
                r.done();
                return b;
            }));
    bind_hash_methods<IntSet>(c, cls);
    refuse_reinit(c);
    add_reduce(c);
}

}  // namespace

void bind_maps(py::module_& m) {
    bind_map<IntIntHash, IntElem, IntElem>(
        m, "IntIntHashMap",
        "std::unordered_map<int64_t, int64_t> with a counting allocator; the counterpart of dict[int, int].\n"
        "Built from a mapping or an iterable of (key, value) pairs (later duplicates win, as in dict).",
        sizeof(std::unordered_map<int64_t, int64_t>), 'H');
    bind_map<IntIntTree, IntElem, IntElem>(
        m, "IntIntTreeMap",
        "std::map<int64_t, int64_t> (red-black tree, keys in order) with a counting allocator; the counterpart "
        "of dict[int, int].",
        sizeof(std::map<int64_t, int64_t>), 'T');
    bind_map<StrIntHash, StrElem, IntElem>(
        m, "StrIntHashMap",
        "std::unordered_map<std::string, int64_t> with counting allocators (nodes, buckets and the heap blocks "
        "of keys longer than 15 bytes); the counterpart of dict[str, int]. Keys must be str (bytes -> TypeError).",
        sizeof(std::unordered_map<std::string, int64_t>), 'M');
    bind_set(m);
}

}  // namespace mh
