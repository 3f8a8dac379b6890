// bind_vector<Elem>: a std::vector of Elem::T (elements.hpp) as a Python
// class, composed of the capability helpers below and in bind_common.hpp.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "bind_common.hpp"
#include "buffer.hpp"
#include "convert.hpp"
#include "elements.hpp"

namespace mh {

template <class Elem>
using VecBox = Box<std::vector<typename Elem::T, CA<typename Elem::T>>>;

// FloatMatrix: a vector of rows, which takes m[i, j] and a 2-D buffer.
template <class Elem>
constexpr bool is_matrix = std::is_same<Elem, RowElem>::value;

template <class Elem>
struct VectorLayout {
    using T = typename Elem::T;
    using Vec = typename VecBox<Elem>::container_type;
    struct Adder {
        std::string what;
        explicit Adder(const char* cls) : what(std::string(cls) + " element") {}
        void operator()(Vec& data, PyObject* item) const { data.push_back(Elem::from_py(item, what.c_str())); }
    };
    static constexpr std::size_t min_state = Elem::min_state;
    static std::size_t state_size(const T& v) { return Elem::state_size(v); }
    static void write(StateWriter& w, const T& v) { Elem::write(w, v); }
    static void read_into(StateReader& r, Vec& data) { data.push_back(Elem::read(r)); }
};

template <class Elem>
struct VecIter {
    py::object owner;
    VecBox<Elem>* box;
    std::size_t i = 0;
};
template <class Elem>
struct init_checked<VecIter<Elem>> : std::true_type {};

// ---------------------------------------------------------------------------
// Filling from buffers: one memcpy (per row), the GIL released. Each returns
// false (and touches nothing) when `o` is not an exactly matching C-contiguous
// buffer and `strict` is false.

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

// v.copy_from_buffer(buffer): a copy into the existing container (its storage kept, nothing
// allocated): exactly len(v) elements of the element dtype, one memcpy, the GIL released. The
// bulk path's copy into an existing buffer, the counterpart of numpy.copyto (from_buffer allocates).
template <class Elem, class Vec>
void copy_into_vector(Vec& data, PyObject* o, const char* where) {
    using T = typename Elem::T;
    BufferView bv;
    get_exact_buffer(bv, o, Elem::buffer_kind, 1, true, where);
    const Py_buffer& v = bv.view();
    const std::size_t n = static_cast<std::size_t>(v.len) / sizeof(T);
    if (n != data.size()) {
        raise(PyExc_ValueError, std::string(where) + " copies into the existing storage: it needs exactly len(self) = " +
                                    std::to_string(data.size()) + " elements, got " + std::to_string(n) +
                                    " (from_buffer builds a container of any length)");
    }
    if (n) {
        py::gil_scoped_release nogil;
        std::memcpy(data.data(), v.buf, n * sizeof(T));  // the containers export no buffer: no overlap
    }
}

// FloatMatrix: a 2-D C-contiguous float64 buffer, one memcpy per row.
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

// The buffer path of a vector of Elem, where it has one: 1-D for numbers, 2-D for matrix rows.
template <class Elem>
constexpr bool has_buffer_path = std::is_arithmetic<typename Elem::T>::value || is_matrix<Elem>;

template <class Elem, class Vec>
bool fill_vector_from_buffer(Vec& data, PyObject* o, bool strict, const char* where) {
    if constexpr (is_matrix<Elem>) {
        return fill_matrix_from_buffer(data, o, strict, where);
    } else {
        return fill_from_buffer<Elem>(data, o, strict, where);
    }
}

// Cls(iterable): the buffer path if it applies, else element by element.
template <class Elem>
void fill_vector(VecBox<Elem>& b, PyObject* o, const char* cls) {
    auto s = b.scope();
    if constexpr (has_buffer_path<Elem>) {
        if (fill_vector_from_buffer<Elem>(b.data, o, false, cls)) return;
    }
    if (PyUnicode_Check(o) || PyBytes_Check(o)) {
        // iterating a str/bytes would give characters/ints: almost surely a mistake
        if constexpr (!std::is_same<Elem, IntElem>::value) {
            raise(PyExc_TypeError, std::string(cls) + "() needs an iterable of " + Elem::py_name + ", not " +
                                       type_name(o));
        }
    }
    fill_items<VectorLayout<Elem>>(b.data, o, cls);
}

// ---------------------------------------------------------------------------
// Capabilities.

template <class Elem>
void vector_iterator(py::module_& m, const char* cls) {
    const std::string it_name = std::string("_") + cls + "Iterator";
    py::class_<VecIter<Elem>> itc(m, it_name.c_str());
    itc.def("__iter__", [](py::object self) { return self; })
        .def("__next__", [](VecIter<Elem>& it) {
            if (it.i >= it.box->data.size()) throw py::stop_iteration();
            return Elem::to_py(it.box->data[it.i++]);
        });
    refuse_pickle(itc, "iterator");
}

// v[i] (and m[i, j] for FloatMatrix), v[i] = x.
template <class Elem>
void vector_accessors(py::class_<VecBox<Elem>>& c, const char* cls) {
    using B = VecBox<Elem>;
    c.def("__getitem__",
          [cls](const B& b, py::object index) -> py::object {
              if constexpr (is_matrix<Elem>) {
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
        .def("__setitem__", [cls](B& b, py::object index, py::object value) {
            const Py_ssize_t raw = index_value(index.ptr(), cls);
            auto s = b.scope();
            typename Elem::T v = Elem::from_py(value.ptr(), (std::string(cls) + " element").c_str());
            const std::size_t i = wrap_index(raw, b.data.size(), cls);  // the size after both conversions
            b.data[i] = std::move(v);
        });
}

// x in v (a linear search), iter(v).
template <class Elem>
void vector_search(py::class_<VecBox<Elem>>& c) {
    using B = VecBox<Elem>;
    c.def("__contains__",
          [](const B& b, py::object value) {
              bool found = false;
              Elem::lookup(value.ptr(), [&](const typename Elem::T& key) {
                  for (const auto& v : b.data) {
                      if (v == key) {
                          found = true;
                          break;
                      }
                  }
              });
              return found;
          })
        .def("__iter__", [](py::object self) { return VecIter<Elem>{self, &self.cast<B&>(), 0}; });
}

// append (alias push_back), extend, clear.
template <class Elem>
void vector_modifiers(py::class_<VecBox<Elem>>& c, const char* cls) {
    using B = VecBox<Elem>;
    using L = VectorLayout<Elem>;
    c.def("append",
          [cls](B& b, py::object value) {
              auto s = b.scope();
              const typename L::Adder add(cls);
              add(b.data, value.ptr());
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
                 add_items<L>(b.data, iterable.ptr(), cls);
                 ++b.version;
             },
             py::arg("iterable"));
    c.attr("push_back") = c.attr("append");
    def_clear(c, "Remove all elements (std::vector::clear: the capacity is kept; shrink_to_fit() releases it).");
}

// reserve, capacity, shrink_to_fit (of the rows too, for FloatMatrix).
template <class Elem>
void vector_capacity(py::class_<VecBox<Elem>>& c, const char* cls) {
    using B = VecBox<Elem>;
    def_reserve(c, cls);
    c.def("capacity", [](const B& b) { return b.data.capacity(); })
        .def("shrink_to_fit", [](B& b) {
            auto s = b.scope();
            b.data.shrink_to_fit();
            if constexpr (is_matrix<Elem>) {
                for (Row& r : b.data) r.shrink_to_fit();
            }
            ++b.version;
        });
}

inline PyObject* array_array_type() {
    static PyObject* t = [] {
        py::object mod = py::module_::import("array");
        return py::object(mod.attr("array")).release().ptr();  // kept for the life of the process
    }();
    return t;
}

// v == list (element by element, Python semantics), and v == array.array for
// the vectors that have one as counterpart; NotImplemented otherwise.
template <class Elem>
void vector_eq(py::class_<VecBox<Elem>>& c, bool array_counterpart) {
    using B = VecBox<Elem>;
    def_eq(c, [array_counterpart](const B& b, PyObject* o) -> py::object {
        if (PyList_Check(o)) {
            if (static_cast<std::size_t>(PyList_GET_SIZE(o)) != b.data.size()) return py::bool_(false);
            for (std::size_t i = 0; i < b.data.size(); ++i) {
                if (static_cast<std::size_t>(PyList_GET_SIZE(o)) != b.data.size()) return py::bool_(false);
                py::object item = py::reinterpret_borrow<py::object>(PyList_GET_ITEM(o, static_cast<Py_ssize_t>(i)));
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
    });
}

// to_python() -> list, repr.
template <class Elem>
void vector_to_python(py::class_<VecBox<Elem>>& c, const char* cls) {
    using B = VecBox<Elem>;
    c.def("to_python",
          [](const B& b) {
              py::object list = steal_or_throw(PyList_New(static_cast<Py_ssize_t>(b.data.size())));
              for (std::size_t i = 0; i < b.data.size(); ++i) {
                  PyList_SET_ITEM(list.ptr(), static_cast<Py_ssize_t>(i), Elem::to_py(b.data[i]).release().ptr());
              }
              return list;
          })
        .def("__repr__", [cls](const B& b) {
            return short_repr(cls, "[", "]", b.data, [](const typename Elem::T& v) { return repr_str(Elem::to_py(v)); });
        });
}

template <class Elem>
void vector_from_buffer(py::class_<VecBox<Elem>>& c, const char* cls) {
    if constexpr (is_matrix<Elem>) {
        def_from_buffer(c, cls, fill_matrix_from_buffer,
                        "One memcpy per row of a 2-D C-contiguous float64 buffer (GIL released); ValueError otherwise.");
    } else if constexpr (has_buffer_path<Elem>) {
        def_from_buffer(c, cls, fill_from_buffer<Elem, typename VecBox<Elem>::container_type>,
                        "Bulk copy (memcpy, GIL released) of a 1-D C-contiguous buffer of exactly the element dtype. "
                        "Anything else is refused with ValueError: no silent conversion or gather.");
        const std::string where = std::string(cls) + ".copy_from_buffer";
        c.def(
            "copy_from_buffer",
            [where](VecBox<Elem>& b, py::object obj) { copy_into_vector<Elem>(b.data, obj.ptr(), where.c_str()); },
            py::arg("buffer"),
            "Copy a 1-D C-contiguous buffer of exactly len(self) elements of the element dtype into the existing "
            "storage (one memcpy, GIL released, nothing allocated); ValueError otherwise.");
    }
}

// ---------------------------------------------------------------------------

// `array_counterpart`: v == array.array compares element by element (IntVector, FloatVector).
template <class Elem>
py::class_<VecBox<Elem>> bind_vector(py::module_& m, const ClassSpec& spec, bool array_counterpart) {
    using B = VecBox<Elem>;
    const char* cls = spec.name;
    vector_iterator<Elem>(m, cls);
    py::class_<B> c(m, cls, spec.doc);
    def_init(c, "iterable", [cls](B& b, PyObject* o) { fill_vector<Elem>(b, o, cls); });
    def_len(c);
    vector_accessors<Elem>(c, cls);
    vector_search<Elem>(c);
    vector_modifiers<Elem>(c, cls);
    vector_capacity<Elem>(c, cls);
    vector_to_python<Elem>(c, cls);
    vector_eq<Elem>(c, array_counterpart);
    def_footprint(c, spec.std_sizeof);
    def_state<VectorLayout<Elem>>(c, spec);
    vector_from_buffer<Elem>(c, cls);
    finish_class(c);
    return c;
}

}  // namespace mh
