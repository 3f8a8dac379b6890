// What every container class shares: the Box that owns a counted std
// container, and the small capability helpers the bindings are composed of
// (bind_vector.hpp, bind_nodes.hpp), in the manner of pybind11's stl_bind.h:
// each adds one group of methods to a py::class_.
//
// A container's "layout" L (VectorLayout, SetLayout, MapLayout) says how one of
// its elements is added from Python (L::Adder) and kept in the pickle state
// (L::state_size, L::write, L::min_state, L::read_into); the helpers below are
// written once against it.
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

#include "caps.hpp"
#include "convert.hpp"
#include "counting_allocator.hpp"
#include "errors.hpp"
#include "footprint.hpp"
#include "init_guard.hpp"
#include "iterate.hpp"
#include "state.hpp"
#include "traits.hpp"

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

// What bind_vector / bind_map / bind_set need to know of one class besides its types.
struct ClassSpec {
    const char* name;
    const char* doc;
    std::size_t std_sizeof;  // sizeof the std:: counterpart (footprint()["sizeof"])
    char state_tag;          // the class's byte in its pickle state (state.hpp)
};

// ---------------------------------------------------------------------------
// Pickling.

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

// __getstate__ / __setstate__ in the binary state format: a count, then each
// element as layout L writes it. The count is checked against the data and
// against memory before anything is reserved.
template <class L, class B>
void def_state(py::class_<B>& c, const ClassSpec& spec) {
    const char* cls = spec.name;
    const char tag = spec.state_tag;
    c.def(py::pickle(
        [tag](const B& b) {
            std::size_t size = varint_size(b.data.size());
            for (const auto& v : b.data) size += L::state_size(v);
            StateWriter w(tag, size);
            w.varint(b.data.size());
            for (const auto& v : b.data) L::write(w, v);
            return w.finish();
        },
        [cls, tag](const py::bytes& state) {
            auto b = std::make_unique<B>();
            auto s = b->scope();
            StateReader r(state, tag, cls);
            const std::size_t n = r.count(L::min_state);
            if constexpr (has_reserve<typename B::container_type>::value) reserve_checked(cls, b->data, n);
            for (std::size_t i = 0; i < n; ++i) L::read_into(r, b->data);
            r.done();
            return b;
        }));
}

// The last step of every container class: refuse_reinit (init_guard.hpp), then add_reduce.
template <class B>
void finish_class(py::class_<B>& c) {
    refuse_reinit(c);
    add_reduce(c);
}

// ---------------------------------------------------------------------------
// Construction.

// Adds the items of a Python iterable through layout L (no reserve).
template <class L, class C>
void add_items(C& data, PyObject* src, const char* cls) {
    const typename L::Adder add(cls);
    for_each_item(src, [&](PyObject* item) { add(data, item); });
}

// A fresh container from the items of `src`, reserving its size hint first where the container can.
template <class L, class C>
void fill_items(C& data, PyObject* src, const char* cls) {
    if constexpr (has_reserve<C>::value) reserve_checked(cls, data, size_hint(src));
    add_items<L>(data, src, cls);
}

// Cls() and Cls(src): fill(box, src) builds the contents of a new box.
template <class B, class Fill>
void def_init(py::class_<B>& c, const char* arg, Fill fill) {
    c.def(py::init([]() { return std::make_unique<B>(); }))
        .def(py::init([fill](py::object src) {
                 auto b = std::make_unique<B>();
                 fill(*b, src.ptr());
                 return b;
             }),
             py::arg(arg));
}

// Cls.from_buffer(buffer): fill(data, obj, /*strict=*/true, where) under the new box's scope.
template <class B, class Fill>
void def_from_buffer(py::class_<B>& c, const char* cls, Fill fill, const char* doc) {
    const std::string where = std::string(cls) + ".from_buffer";
    c.def_static(
        "from_buffer",
        [where, fill](py::object obj) {
            auto b = std::make_unique<B>();
            auto s = b->scope();
            fill(b->data, obj.ptr(), true, where.c_str());
            return b;
        },
        py::arg("buffer"), doc);
}

// ---------------------------------------------------------------------------
// Size, capacity, contents.

template <class B>
void def_len(py::class_<B>& c) {
    c.def("__len__", [](const B& b) { return b.data.size(); });
}

template <class B, class... Extra>
void def_clear(py::class_<B>& c, const Extra&... extra) {
    c.def(
        "clear",
        [](B& b) {
            auto s = b.scope();
            b.data.clear();
            ++b.version;
        },
        extra...);
}

// reserve(n): a count (to_count), checked against memory (for a hashed
// container: n nodes, not only the buckets) before anything is allocated.
template <class B, class... Extra>
void def_reserve(py::class_<B>& c, const char* cls, const Extra&... extra) {
    c.def(
        "reserve",
        [cls](B& b, py::object n) {
            const std::string where = std::string(cls) + ".reserve";
            const std::size_t k = to_count(n.ptr(), where.c_str());
            auto s = b.scope();
            reserve_checked(where.c_str(), b.data, k);
            ++b.version;
        },
        py::arg("n"), extra...);
}

template <class B>
void def_footprint(py::class_<B>& c, std::size_t std_sizeof) {
    c.def("footprint", [std_sizeof](const B& b) { return footprint_dict(*b.counters, std_sizeof, b.data.size()); })
        .def("reset_peak", [](B& b) { b.counters->reset_peak(); });
}

// __eq__: another instance of the class compares its C++ data; anything else
// goes to eq_python(box, other) (True/False, or NotImplemented).
template <class B, class EqPython>
void def_eq(py::class_<B>& c, EqPython eq_python) {
    c.def("__eq__", [eq_python](const B& b, py::object other) -> py::object {
        if (py::isinstance<B>(other)) return py::bool_(b.data == other.cast<const B&>().data);
        return eq_python(b, other.ptr());
    });
}

// Cls([a, b, ...]) / Cls({k: v, ...}): the first five elements (item_repr of
// each), then ", n=<size>" when there are more.
template <class Seq, class ItemRepr>
std::string short_repr(const char* cls, const char* open, const char* close, const Seq& seq, ItemRepr item_repr) {
    std::string s = std::string(cls) + "(" + open;
    std::size_t i = 0;
    for (const auto& v : seq) {
        if (i == 5) {
            s += ", ...";
            break;
        }
        if (i) s += ", ";
        s += item_repr(v);
        ++i;
    }
    s += close;
    if (seq.size() > 5) s += ", n=" + std::to_string(seq.size());
    return s + ")";
}

}  // namespace mh
