// The Python classes: one template per container shape (vector, map, set),
// instantiated for each element type in bind_*.cpp.
#pragma once

#include <memory>
#include <string>

#include "elements.hpp"
#include "init_guard.hpp"

namespace mh {

// Owns a std container and the Counters its allocator points to. The
// Counters live on the heap (stable address) and outlive the container.
template <class C>
struct Box {
    using container_type = C;
    std::unique_ptr<Counters> counters;
    C data;
    uint64_t version = 0;  // bumped on every structural change (for iterators)

    // (prepare_thread: constructors, from_buffer and __setstate__ start here; see counting_allocator.hpp)
    Box() : counters((prepare_thread(), std::make_unique<Counters>())), data(typename C::allocator_type(counters.get())) {}
    ~Box() {
        CountingScope s(counters.get());
        data.clear();  // elements (strings, rows) are freed under this box's scope
    }
    Box(const Box&) = delete;
    Box& operator=(const Box&) = delete;

    CountingScope scope() const noexcept { return CountingScope(counters.get()); }
};
template <class C>
struct init_checked<Box<C>> : std::true_type {};  // see init_guard.hpp

inline PyObject* array_array_type() {
    static PyObject* t = [] {
        py::object mod = py::module_::import("array");
        return py::object(mod.attr("array")).release().ptr();  // kept for the life of the process
    }();
    return t;
}

// __reduce__ -> (copyreg.__newobj__, (cls,), state): what protocol 2+ does by
// default (cls.__new__(cls), then __setstate__(state)), now for every
// protocol. Without it, protocols 0 and 1 take copyreg's _reduce_ex path,
// which pybind11 (3.1) answers with std::terminate.
template <class PyClass>
void add_reduce(PyClass& c) {
    c.def("__reduce__", [](py::object self) {
        py::object newobj = py::module_::import("copyreg").attr("__newobj__");
        return py::make_tuple(newobj, py::make_tuple(py::type::of(self)), self.attr("__getstate__")());
    });
}

// For classes that cannot be pickled: a TypeError at every protocol (see add_reduce).
template <class PyClass>
void refuse_pickle(PyClass& c, const char* name) {
    c.def("__reduce__", [name](py::object) -> py::object {
        raise(PyExc_TypeError, std::string("cannot pickle '") + name + "' object");
    });
    c.def("__reduce_ex__", [name](py::object, py::object) -> py::object {
        raise(PyExc_TypeError, std::string("cannot pickle '") + name + "' object");
    });
}

template <class BoxT>
py::dict footprint_of(const BoxT& b, std::size_t std_sizeof) {
    return footprint_dict(*b.counters, std_sizeof, b.data.size());
}

template <class Elem, class Seq>
std::string short_repr(const char* cls, const Seq& seq) {
    std::string s = std::string(cls) + "([";
    std::size_t i = 0;
    for (const auto& v : seq) {
        if (i == 5) {
            s += ", ...";
            break;
        }
        if (i) s += ", ";
        s += py::repr(Elem::to_py(v)).template cast<std::string>();
        ++i;
    }
    s += "]";
    if (seq.size() > 5) s += ", n=" + std::to_string(seq.size());
    return s + ")";
}

// ---------------------------------------------------------------------------
// Vectors.

template <class Elem>
using VecBox = Box<std::vector<typename Elem::T, CA<typename Elem::T>>>;

template <class Elem>
struct VecIter {
    py::object owner;
    VecBox<Elem>* box;
    std::size_t i = 0;
};
template <class Elem>
struct init_checked<VecIter<Elem>> : std::true_type {};

// Numeric buffer fast path: memcpy with the GIL released. Returns false (and
// touches nothing) when `o` is not an exactly matching C-contiguous buffer and
// `strict` is false.
template <class Elem, class Vec>
bool fill_from_buffer(Vec& data, PyObject* o, bool strict, const char* where) {
    using T = typename Elem::T;
    BufferView bv;
    if (!get_exact_buffer(bv, o, Elem::buffer_kind, 1, strict, where)) return false;
    const Py_buffer& v = bv.view();
    const std::size_t n = static_cast<std::size_t>(v.len) / sizeof(T);
    const char* src = static_cast<const char*>(v.buf);
    check_room(where, data, n);
    {
        py::gil_scoped_release nogil;
        data.clear();
        data.shrink_to_fit();
        data.resize(n);  // default-initialised: no zeroing (see counting_allocator.hpp)
        if (n) {
            advise_hugepages(data.data(), n * sizeof(T));
            std::memcpy(data.data(), src, n * sizeof(T));
        }
    }
    return true;
}

// FloatMatrix: a 2-D C-contiguous float64 buffer, one memcpy per row, GIL released.
inline bool fill_matrix_from_buffer(Matrix& data, PyObject* o, bool strict, const char* where) {
    BufferView bv;
    if (!get_exact_buffer(bv, o, 'f', 2, strict, where)) return false;
    const Py_buffer& v = bv.view();
    const std::size_t rows = static_cast<std::size_t>(v.shape[0]), cols = static_cast<std::size_t>(v.shape[1]);
    // The C++ copy takes rows * sizeof(Row) bytes besides the data. With one column or more that is
    // at most 3x the buffer; a zero-width buffer holds 0 bytes, and (10**8, 0) would become 2.4 GB of
    // empty rows: refused beyond 1 MiB of them (FloatMatrix([[]] * n) says it explicitly).
    constexpr std::size_t max_empty_rows = (std::size_t(1) << 20) / sizeof(Row);
    if (cols == 0 && rows > max_empty_rows) {
        raise(PyExc_ValueError, std::string(where) + ": a zero-width buffer of " + std::to_string(rows) +
                                    " rows holds 0 bytes but would take " + std::to_string(rows) + " * " +
                                    std::to_string(sizeof(Row)) + " bytes of empty rows; refused above " +
                                    std::to_string(max_empty_rows) + " rows (use FloatMatrix([[]] * n) to mean it)");
    }
    if (rows) {  // then cols * 8 <= the buffer's length: no overflow
        check_capacity(where, rows, sizeof(Row) + cols * sizeof(double), data.max_size());
        check_room(where, Row(), cols);
    }
    const char* src = static_cast<const char*>(v.buf);
    {
        py::gil_scoped_release nogil;
        data.clear();
        data.reserve(rows);
        for (std::size_t i = 0; i < rows; ++i) {
            Row& r = data.emplace_back();
            r.resize(cols);  // default-initialised, no zeroing
            if (cols) std::memcpy(r.data(), src + i * cols * sizeof(double), cols * sizeof(double));
        }
    }
    return true;
}

template <class Elem>
void fill_vector(VecBox<Elem>& b, PyObject* o, const char* cls) {
    auto s = b.scope();
    if constexpr (std::is_arithmetic<typename Elem::T>::value) {
        if (fill_from_buffer<Elem>(b.data, o, false, cls)) return;
    }
    if constexpr (std::is_same<Elem, RowElem>::value) {
        if (fill_matrix_from_buffer(b.data, o, false, cls)) return;
    }
    if (PyUnicode_Check(o) || PyBytes_Check(o)) {
        // iterating a str/bytes would give characters/ints: almost surely a mistake
        if constexpr (!std::is_same<Elem, IntElem>::value) {
            raise(PyExc_TypeError, std::string(cls) + "() needs an iterable of " + Elem::py_name + ", not " +
                                       type_name(o));
        }
    }
    reserve_checked(cls, b.data, size_hint(o));
    const std::string what = std::string(cls) + " element";
    for_each_item(o, [&](PyObject* item) { b.data.push_back(Elem::from_py(item, what.c_str())); });
}

template <class Elem>
py::object vector_to_python(const VecBox<Elem>& b) {
    py::object list = steal_or_throw(PyList_New(static_cast<Py_ssize_t>(b.data.size())));
    for (std::size_t i = 0; i < b.data.size(); ++i) {
        PyList_SET_ITEM(list.ptr(), static_cast<Py_ssize_t>(i), Elem::to_py(b.data[i]).release().ptr());
    }
    return list;
}

template <class Elem>
py::class_<VecBox<Elem>> bind_vector(py::module_& m, const char* cls, const char* doc, std::size_t std_sizeof,
                                     char state_tag, bool array_counterpart) {
    using B = VecBox<Elem>;
    using T = typename Elem::T;
    const std::string it_name = std::string("_") + cls + "Iterator";
    py::class_<VecIter<Elem>> itc(m, it_name.c_str());
    itc.def("__iter__", [](py::object self) { return self; })
        .def("__next__", [](VecIter<Elem>& it) {
            if (it.i >= it.box->data.size()) throw py::stop_iteration();
            return Elem::to_py(it.box->data[it.i++]);
        });
    refuse_pickle(itc, "iterator");

    py::class_<B> c(m, cls, doc);
    c.def(py::init([]() { return std::make_unique<B>(); }))
        .def(py::init([cls](py::object iterable) {
                 auto b = std::make_unique<B>();
                 fill_vector<Elem>(*b, iterable.ptr(), cls);
                 return b;
             }),
             py::arg("iterable"))
        .def("__len__", [](const B& b) { return b.data.size(); })
        .def("__getitem__",
             [cls](const B& b, py::object index) -> py::object {
                 if constexpr (std::is_same<Elem, RowElem>::value) {
                     if (PyTuple_Check(index.ptr())) {  // m[i, j] -> float
                         if (PyTuple_GET_SIZE(index.ptr()) != 2) {
                             raise(PyExc_TypeError, "FloatMatrix index must be an int or an (i, j) pair");
                         }
                         // both conversions (which may run Python code) before any element is touched
                         const Py_ssize_t i = index_value(PyTuple_GET_ITEM(index.ptr(), 0), cls);
                         const Py_ssize_t j = index_value(PyTuple_GET_ITEM(index.ptr(), 1), cls);
                         const Row& r = b.data[wrap_index(i, b.data.size(), cls)];
                         return float_to_py(r[wrap_index(j, r.size(), cls)]);
                     }
                 }
                 const Py_ssize_t i = index_value(index.ptr(), cls);
                 return Elem::to_py(b.data[wrap_index(i, b.data.size(), cls)]);
             })
        .def("__setitem__",
             [cls](B& b, py::object index, py::object value) {
                 const Py_ssize_t raw = index_value(index.ptr(), cls);
                 auto s = b.scope();
                 T v = Elem::from_py(value.ptr(), (std::string(cls) + " element").c_str());
                 const std::size_t i = wrap_index(raw, b.data.size(), cls);  // the size after both conversions
                 b.data[i] = std::move(v);
             })
        .def("__contains__",
             [](const B& b, py::object value) {
                 bool found = false;
                 Elem::lookup(value.ptr(), [&](const T& key) {
                     for (const auto& v : b.data) {
                         if (v == key) {
                             found = true;
                             break;
                         }
                     }
                 });
                 return found;
             })
        .def("__iter__", [](py::object self) { return VecIter<Elem>{self, &self.cast<B&>(), 0}; })
        .def("append",
             [cls](B& b, py::object value) {
                 auto s = b.scope();
                 b.data.push_back(Elem::from_py(value.ptr(), (std::string(cls) + " element").c_str()));
                 ++b.version;
             },
             py::arg("value"), "Append one element (std::vector::push_back: capacity grows geometrically).")
        .def("extend",
             [cls](B& b, py::object iterable) {
                 auto s = b.scope();
                 if (py::isinstance<B>(iterable)) {  // also v.extend(v): copy the elements there are now
                     const B& o = iterable.cast<const B&>();
                     const std::size_t n = o.data.size();
                     reserve_checked(cls, b.data, b.data.size() + n);  // no reallocation below: references stay valid
                     for (std::size_t i = 0; i < n; ++i) b.data.push_back(o.data[i]);
                     ++b.version;
                     return;
                 }
                 const std::string what = std::string(cls) + " element";
                 for_each_item(iterable.ptr(),
                               [&](PyObject* item) { b.data.push_back(Elem::from_py(item, what.c_str())); });
                 ++b.version;
             },
             py::arg("iterable"))
        .def("reserve",
             [cls](B& b, py::object n) {
                 const std::string where = std::string(cls) + ".reserve";
                 const std::size_t k = to_count(n.ptr(), where.c_str());
                 auto s = b.scope();
                 reserve_checked(where.c_str(), b.data, k);
                 ++b.version;
             },
             py::arg("n"))
        .def("capacity", [](const B& b) { return b.data.capacity(); })
        .def("shrink_to_fit",
             [](B& b) {
                 auto s = b.scope();
                 b.data.shrink_to_fit();
                 if constexpr (std::is_same<Elem, RowElem>::value) {
                     for (Row& r : b.data) r.shrink_to_fit();
                 }
                 ++b.version;
             })
        .def("clear",
             [](B& b) {
                 auto s = b.scope();
                 b.data.clear();
                 ++b.version;
             },
             "Remove all elements (std::vector::clear: the capacity is kept; shrink_to_fit() releases it).")
        .def("to_python", [](const B& b) { return vector_to_python<Elem>(b); })
        .def("__eq__",
             [array_counterpart](const B& b, py::object other) -> py::object {
                 PyObject* o = other.ptr();
                 if (py::isinstance<B>(other)) return py::bool_(b.data == other.cast<const B&>().data);
                 if (PyList_Check(o)) {
                     if (static_cast<std::size_t>(PyList_GET_SIZE(o)) != b.data.size()) return py::bool_(false);
                     for (std::size_t i = 0; i < b.data.size(); ++i) {
                         if (static_cast<std::size_t>(PyList_GET_SIZE(o)) != b.data.size()) return py::bool_(false);
                         py::object item =
                             py::reinterpret_borrow<py::object>(PyList_GET_ITEM(o, static_cast<Py_ssize_t>(i)));
                         if (!Elem::eq_py(b.data[i], item.ptr())) return py::bool_(false);
                     }
                     return py::bool_(true);
                 }
                 if (array_counterpart && PyObject_IsInstance(o, array_array_type()) == 1) {
                     if (size_hint(o) != b.data.size()) return py::bool_(false);
                     std::size_t i = 0;
                     bool eq = true;
                     for_each_item(o, [&](PyObject* item) {
                         if (eq && (i >= b.data.size() || !Elem::eq_py(b.data[i], item))) eq = false;
                         ++i;
                     });
                     return py::bool_(eq && i == b.data.size());
                 }
                 return not_implemented();
             })
        .def("__repr__", [cls](const B& b) { return short_repr<Elem>(cls, b.data); })
        .def("footprint", [std_sizeof](const B& b) { return footprint_of(b, std_sizeof); })
        .def("reset_peak", [](B& b) { b.counters->reset_peak(); })
        .def(py::pickle(
            [state_tag](const B& b) {
                std::size_t size = varint_size(b.data.size());
                for (const auto& v : b.data) size += Elem::state_size(v);
                StateWriter w(state_tag, size);
                w.varint(b.data.size());
                for (const auto& v : b.data) Elem::write(w, v);
                return w.finish();
            },
            [cls, state_tag](const py::bytes& state) {
                auto b = std::make_unique<B>();
                auto s = b->scope();
                StateReader r(state, state_tag, cls);
                const std::size_t n = r.count(Elem::min_state);
                reserve_checked(cls, b->data, n);
                for (std::size_t i = 0; i < n; ++i) b->data.push_back(Elem::read(r));
                r.done();
                return b;
            }));
    if constexpr (std::is_arithmetic<T>::value) {
        c.def_static(
            "from_buffer",
            [cls](py::object obj) {
                auto b = std::make_unique<B>();
                auto s = b->scope();
                const std::string where = std::string(cls) + ".from_buffer";
                fill_from_buffer<Elem>(b->data, obj.ptr(), true, where.c_str());
                return b;
            },
            py::arg("buffer"),
            "Bulk copy (memcpy, GIL released) of a 1-D C-contiguous buffer of exactly the element dtype. "
            "Anything else is refused with ValueError: no silent conversion or gather.");
    }
    c.attr("push_back") = c.attr("append");
    refuse_reinit(c);
    add_reduce(c);
    return c;
}

// ---------------------------------------------------------------------------
// Maps (std::map and std::unordered_map) and sets (std::unordered_set).

template <class C>
struct NodeIter {
    py::object owner;
    Box<C>* box;
    typename C::const_iterator it;
    uint64_t version;
};
template <class C>
struct init_checked<NodeIter<C>> : std::true_type {};

// After Python code ran in the middle of a walk over the nodes (a comparison
// calling a user __eq__), the walk goes on only if the container did not
// change structurally (which would have invalidated the iterator).
template <class BoxT>
void check_unchanged(const BoxT& b, uint64_t version, const char* cls) {
    if (b.version != version) raise(PyExc_RuntimeError, std::string(cls) + " changed during comparison");
}

// Equality with a Python set or dict of the same size, one element of the C++
// container at a time: `match(element)` says whether the Python side holds it
// (raising on a Python error). It may run Python code (a user __eq__ or
// __hash__) that changes the container, so the walk checks after each call
// and goes on only over an unchanged container.
template <class BoxT, class Match>
py::object eq_each(const BoxT& b, const char* cls, Match match) {
    const uint64_t version = b.version;
    for (auto it = b.data.cbegin(); it != b.data.cend(); ++it) {
        const bool same = match(*it);
        check_unchanged(b, version, cls);
        if (!same) return py::bool_(false);
    }
    return py::bool_(true);
}

template <class C, class KeyElem>
void bind_node_iter(py::module_& m, const char* cls) {
    const std::string it_name = std::string("_") + cls + "Iterator";
    py::class_<NodeIter<C>> itc(m, it_name.c_str());
    refuse_pickle(itc, "iterator");
    itc.def("__iter__", [](py::object self) { return self; })
        .def("__next__", [cls](NodeIter<C>& it) {
            if (it.version != it.box->version) {
                raise(PyExc_RuntimeError, std::string(cls) + " changed during iteration");
            }
            if (it.it == it.box->data.cend()) throw py::stop_iteration();
            const auto& v = *it.it;
            ++it.it;
            if constexpr (std::is_same<typename C::key_type, typename C::value_type>::value) {
                return KeyElem::to_py(v);
            } else {
                return KeyElem::to_py(v.first);
            }
        });
}

template <class C>
void bind_hash_methods(py::class_<Box<C>>& c, const char* cls) {
    using B = Box<C>;
    c.def("reserve",
          [cls](B& b, py::object n) {
              const std::string where = std::string(cls) + ".reserve";
              const std::size_t k = to_count(n.ptr(), where.c_str());
              auto s = b.scope();
              reserve_checked(where.c_str(), b.data, k);  // n nodes must fit, not only the buckets
              ++b.version;
          },
          py::arg("n"),
          "Make room for n elements without rehashing (allocates the bucket array). MemoryError before "
          "allocating if n elements (nodes and buckets) could not fit in physical memory.")
        .def("rehash",
             [cls](B& b, py::object n) {
                 const std::string where = std::string(cls) + ".rehash";
                 const std::size_t k = to_count(n.ptr(), where.c_str());
                 check_capacity(where.c_str(), k, sizeof(void*), b.data.max_bucket_count());
                 auto s = b.scope();
                 b.data.rehash(k);
                 ++b.version;
             },
             py::arg("buckets"))
        .def("shrink_to_fit",
             [](B& b) {
                 auto s = b.scope();
                 b.data.rehash(0);  // the fewest buckets that hold size() at max_load_factor
                 ++b.version;
             },
             "rehash(0): the smallest bucket array for the current size.")
        .def("bucket_count", [](const B& b) { return b.data.bucket_count(); })
        .def("load_factor", [](const B& b) { return b.data.load_factor(); })
        .def("max_load_factor", [](const B& b) { return b.data.max_load_factor(); });
}

template <class C, class KeyElem, class ValElem>
py::class_<Box<C>> bind_map(py::module_& m, const char* cls, const char* doc, std::size_t std_sizeof,
                            char state_tag) {
    using B = Box<C>;
    using K = typename KeyElem::T;
    bind_node_iter<C, KeyElem>(m, cls);

    auto fill = [cls](B& b, PyObject* o) {
        auto s = b.scope();
        py::object items;
        PyObject* src = o;
        const bool mapping = PyDict_Check(o) || PyObject_HasAttrString(o, "items");
        if (mapping) {
            items = steal_or_throw(PyObject_CallMethod(o, "items", nullptr));
            src = items.ptr();
        }
        if constexpr (is_hashed<C>::value) reserve_checked(cls, b.data, size_hint(src));
        const std::string kwhat = std::string(cls) + " key", vwhat = std::string(cls) + " value";
        for_each_item(src, [&](PyObject* item) {
            FixedItems kv(item, 2, "(key, value) pair");
            K k = KeyElem::from_py(kv[0], kwhat.c_str());
            const int64_t v = ValElem::from_py(kv[1], vwhat.c_str());
            b.data.insert_or_assign(std::move(k), v);  // later duplicates win, as in dict
        });
        ++b.version;
    };

    py::class_<B> c(m, cls, doc);
    c.def(py::init([]() { return std::make_unique<B>(); }))
        .def(py::init([fill](py::object src) {
                 auto b = std::make_unique<B>();
                 fill(*b, src.ptr());
                 return b;
             }),
             py::arg("mapping_or_pairs"))
        .def("__len__", [](const B& b) { return b.data.size(); })
        .def("__getitem__",
             [](const B& b, py::object key) {
                 py::object result;
                 KeyElem::lookup(key.ptr(), [&](const K& k) {
                     auto it = b.data.find(k);
                     if (it != b.data.end()) result = ValElem::to_py(it->second);
                 });
                 if (!result) throw py::key_error(py::repr(key).cast<std::string>());
                 return result;
             })
        .def("get",
             [](const B& b, py::object key, py::object dflt) {
                 py::object result = dflt;
                 KeyElem::lookup(key.ptr(), [&](const K& k) {
                     auto it = b.data.find(k);
                     if (it != b.data.end()) result = ValElem::to_py(it->second);
                 });
                 return result;
             },
             py::arg("key"), py::arg("default") = py::none())
        .def("__setitem__",
             [cls](B& b, py::object key, py::object value) {
                 auto s = b.scope();
                 K k = KeyElem::from_py(key.ptr(), (std::string(cls) + " key").c_str());
                 const int64_t v = ValElem::from_py(value.ptr(), (std::string(cls) + " value").c_str());
                 if (b.data.insert_or_assign(std::move(k), v).second) ++b.version;
             })
        .def("__delitem__",
             [](B& b, py::object key) {
                 bool erased = false;
                 KeyElem::lookup(key.ptr(), [&](const K& k) {
                     auto s = b.scope();
                     erased = b.data.erase(k) != 0;
                 });
                 if (!erased) throw py::key_error(py::repr(key).cast<std::string>());
                 ++b.version;
             })
        .def("__contains__",
             [](const B& b, py::object key) {
                 bool found = false;
                 KeyElem::lookup(key.ptr(), [&](const K& k) { found = b.data.find(k) != b.data.end(); });
                 return found;
             })
        .def("__iter__",
             [](py::object self) {
                 B& b = self.cast<B&>();
                 return NodeIter<C>{self, &b, b.data.cbegin(), b.version};
             })
        .def("clear",
             [](B& b) {
                 auto s = b.scope();
                 b.data.clear();
                 ++b.version;
             })
        .def("to_python",
             [](const B& b) {
                 // (not py::dict: pybind11 reports a failed PyDict_New as RuntimeError, not MemoryError)
                 py::object d = steal_or_throw(PyDict_New());
                 for (const auto& kv : b.data) {
                     py::object k = KeyElem::to_py(kv.first), v = ValElem::to_py(kv.second);
                     if (PyDict_SetItem(d.ptr(), k.ptr(), v.ptr()) != 0) throw_py_error();
                 }
                 return d;
             })
        .def("__eq__",
             [cls](const B& b, py::object other) -> py::object {
                 if (py::isinstance<B>(other)) return py::bool_(b.data == other.cast<const B&>().data);
                 PyObject* o = other.ptr();
                 if (!PyDict_Check(o)) return not_implemented();
                 if (static_cast<std::size_t>(PyDict_Size(o)) != b.data.size()) return py::bool_(false);
                 // The lookup and the value comparison may change the map (eq_each checks after
                 // each pair) and free this node: copy out what is used after the lookup first.
                 return eq_each(b, cls, [o](const typename C::value_type& kv) {
                     const int64_t value = kv.second;
                     py::object k = KeyElem::to_py(kv.first);
                     PyObject* v = PyDict_GetItemWithError(o, k.ptr());  // borrowed
                     if (v == nullptr) {
                         if (PyErr_Occurred()) throw_py_error();
                         return false;
                     }
                     py::object hold = py::reinterpret_borrow<py::object>(v);
                     return ValElem::eq_py(value, v);
                 });
             })
        .def("__repr__",
             [cls](const B& b) {
                 std::string s = std::string(cls) + "({";
                 std::size_t i = 0;
                 for (const auto& kv : b.data) {
                     if (i == 5) {
                         s += ", ...";
                         break;
                     }
                     if (i) s += ", ";
                     s += py::repr(KeyElem::to_py(kv.first)).template cast<std::string>() + ": " +
                          py::repr(ValElem::to_py(kv.second)).template cast<std::string>();
                     ++i;
                 }
                 s += "}";
                 if (b.data.size() > 5) s += ", n=" + std::to_string(b.data.size());
                 return s + ")";
             })
        .def("footprint", [std_sizeof](const B& b) { return footprint_of(b, std_sizeof); })
        .def("reset_peak", [](B& b) { b.counters->reset_peak(); })
        .def(py::pickle(
            [state_tag](const B& b) {
                std::size_t size = varint_size(b.data.size());
                for (const auto& kv : b.data) size += KeyElem::state_size(kv.first) + 8;
                StateWriter w(state_tag, size);
                w.varint(b.data.size());
                for (const auto& kv : b.data) {
                    KeyElem::write(w, kv.first);
                    w.i64(kv.second);
                }
                return w.finish();
            },
            [cls, state_tag](const py::bytes& state) {
                auto b = std::make_unique<B>();
                auto s = b->scope();
                StateReader r(state, state_tag, cls);
                const std::size_t n = r.count(KeyElem::min_state + 8);
                if constexpr (is_hashed<C>::value) reserve_checked(cls, b->data, n);
                for (std::size_t i = 0; i < n; ++i) {
                    K k = KeyElem::read(r);
                    const int64_t v = r.i64();
                    if (!b->data.emplace(std::move(k), v).second) r.fail("duplicate key");
                }
                r.done();
                return b;
            }));
    if constexpr (std::is_same<C, IntIntHash>::value || std::is_same<C, StrIntHash>::value) {
        bind_hash_methods<C>(c, cls);
    }
    refuse_reinit(c);
    add_reduce(c);
    return c;
}

}  // namespace mh
