// Element types of the containers and their Python conversions ("traits").
//
// Each trait `E` gives: E::T, from_py (strict: TypeError / OverflowError /
// ValueError), to_py, eq_py (Python == semantics against one Python element),
// lookup (lenient: calls f(key) when the object could be an element, returns
// false when it cannot), and the pickle state encoding (state_size, write,
// read, min_state = fewest bytes one element takes in the state).
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "caps.hpp"
#include "convert.hpp"
#include "counting_allocator.hpp"
#include "errors.hpp"
#include "iterate.hpp"
#include "state.hpp"
#include "types.hpp"

namespace mh {

// lookup() of elements whose C++ value owns heap memory (records, matrix rows):
// the probe is converted into a temporary on the scratch counters, so a lookup
// never shows in a container's footprint, and freed there too. Returns false
// when o is not convertible to an element (then it cannot be in the container).
template <class Elem, class F>
bool scratch_lookup(PyObject* o, const char* what, F&& f) {
    using T = typename Elem::T;
    std::optional<T> r;
    {
        CountingScope s(scratch_counters());
        try {
            r.emplace(Elem::from_py(o, what));
        } catch (py::error_already_set& e) {
            if (!conversion_failed(e)) throw;
            return false;
        }
    }
    struct Free {
        std::optional<T>& r;
        ~Free() {
            CountingScope s(scratch_counters());
            r.reset();
        }
    } fr{r};
    f(static_cast<const T&>(*r));
    return true;
}

// ---------------------------------------------------------------------------

// int64 and float64: 8 bytes each in the state; lookups take a lenient probe
// (Derived::probe: the value, or nullopt when the object cannot be an element).
template <class Derived, class V>
struct ScalarElem {
    using T = V;
    static constexpr std::size_t min_state = 8;

    template <class F>
    static bool lookup(PyObject* o, F&& f) {
        const std::optional<T> k = Derived::probe(o);
        if (!k) return false;
        f(*k);
        return true;
    }
    static std::size_t state_size(const T&) { return 8; }
    static void write(StateWriter& w, const T& v) { w.word(v); }
    static T read(StateReader& r) { return r.word<T>(); }
};

struct IntElem : ScalarElem<IntElem, int64_t> {
    static constexpr const char* py_name = "int";
    static constexpr char buffer_kind = 'i';

    static T from_py(PyObject* o, const char* what) { return to_int64(o, what); }
    static py::object to_py(const T& v) { return int_to_py(v); }
    static std::optional<T> probe(PyObject* o) { return lookup_int64(o); }
    static bool eq_py(const T& v, PyObject* o) {
        if (PyLong_CheckExact(o)) {
            int overflow = 0;
            const long long w = PyLong_AsLongLongAndOverflow(o, &overflow);
            if (w == -1 && PyErr_Occurred()) throw_py_error();
            return overflow == 0 && static_cast<int64_t>(w) == v;
        }
        return rich_eq(to_py(v).ptr(), o);
    }
};

struct FloatElem : ScalarElem<FloatElem, double> {
    static constexpr const char* py_name = "float";
    static constexpr char buffer_kind = 'f';

    static T from_py(PyObject* o, const char* what) { return to_double(o, what); }
    static py::object to_py(const T& v) { return float_to_py(v); }
    static std::optional<T> probe(PyObject* o) { return lookup_double(o); }
    static bool eq_py(const T& v, PyObject* o) {
        if (PyFloat_CheckExact(o)) return v == PyFloat_AS_DOUBLE(o);  // NaN never equal
        return rich_eq(to_py(v).ptr(), o);
    }
};

struct StrElem {
    using T = cstring;
    static constexpr const char* py_name = "str";
    static constexpr std::size_t min_state = 1;

    // Allocates under the current CountingScope.
    static T from_py(PyObject* o, const char* what) {
        Utf8View v(o, what);
        return T(v.view().data(), v.view().size());
    }
    static py::object to_py(const T& v) { return str_from_utf8(v.data(), v.size()); }
    static bool eq_py(const T& v, PyObject* o) {
        if (PyUnicode_CheckExact(o)) {
            Utf8View u(o, "str");
            return u.view() == std::string_view(v.data(), v.size());
        }
        return rich_eq(to_py(v).ptr(), o);
    }
    // The temporary key is allocated and freed under the scratch counters,
    // never charged to a container; f itself runs under the caller's scope.
    template <class F>
    static bool lookup(PyObject* o, F&& f) {
        if (!PyUnicode_Check(o)) return false;
        Utf8View u(o, "key");
        if (u.view().size() <= 15) {  // fits the SSO buffer: no allocation at all
            const T key(u.view().data(), u.view().size());
            f(key);
            return true;
        }
        struct Holder {
            alignas(T) unsigned char buf[sizeof(T)];
            T* key = nullptr;
            ~Holder() {
                if (key) {
                    CountingScope s(scratch_counters());
                    key->~T();
                }
            }
        } h;
        {
            CountingScope s(scratch_counters());
            h.key = ::new (static_cast<void*>(h.buf)) T(u.view().data(), u.view().size());
        }
        f(static_cast<const T&>(*h.key));
        return true;
    }
    static std::size_t state_size(const T& v) { return str_state_size(v.size()); }
    static void write(StateWriter& w, const T& v) { w.str(std::string_view(v.data(), v.size())); }
    static T read(StateReader& r) {
        const std::string_view s = r.str();
        return T(s.data(), s.size());
    }
};

struct RecordElem {
    using T = Record;
    static constexpr const char* py_name = "(id, x, y, name) tuple";
    static constexpr std::size_t min_state = 25;

    static T from_py(PyObject* o, const char* what) {
        (void)what;
        FixedItems items(o, 4, "record (id, x, y, name)");
        T r;
        r.id = to_int64(items[0], "record id");
        r.x = to_double(items[1], "record x");
        r.y = to_double(items[2], "record y");
        r.name = StrElem::from_py(items[3], "record name");
        return r;
    }
    static T from_attrs(PyObject* o) {
        auto attr = [o](const char* name) {
            PyObject* a = PyObject_GetAttrString(o, name);
            if (a == nullptr) {
                if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
                    PyErr_Clear();
                    raise(PyExc_TypeError, std::string("RecordVector.from_objects: ") + type_name(o) +
                                               " object has no attribute '" + name + "'");
                }
                throw_py_error();
            }
            return py::reinterpret_steal<py::object>(a);
        };
        T r;
        r.id = to_int64(attr("id").ptr(), "record id");
        r.x = to_double(attr("x").ptr(), "record x");
        r.y = to_double(attr("y").ptr(), "record y");
        r.name = StrElem::from_py(attr("name").ptr(), "record name");
        return r;
    }
    static py::object to_py(const T& v) {
        py::object id = int_to_py(v.id), x = float_to_py(v.x), y = float_to_py(v.y);
        py::object name = StrElem::to_py(v.name);
        return steal_or_throw(PyTuple_Pack(4, id.ptr(), x.ptr(), y.ptr(), name.ptr()));
    }
    static bool eq_py(const T& v, PyObject* o) { return rich_eq(to_py(v).ptr(), o); }
    template <class F>
    static bool lookup(PyObject* o, F&& f) {
        return scratch_lookup<RecordElem>(o, "record", std::forward<F>(f));
    }
    static std::size_t state_size(const T& v) { return 24 + str_state_size(v.name.size()); }
    static void write(StateWriter& w, const T& v) {
        w.i64(v.id);
        w.f64(v.x);
        w.f64(v.y);
        w.str(std::string_view(v.name.data(), v.name.size()));
    }
    static T read(StateReader& r) {
        T v;
        v.id = r.i64();
        v.x = r.f64();
        v.y = r.f64();
        const std::string_view s = r.str();
        v.name = cstring(s.data(), s.size());  // exact capacity (assign() would grow geometrically)
        return v;
    }
};

struct RowElem {
    using T = Row;
    static constexpr const char* py_name = "list of float";
    static constexpr std::size_t min_state = 1;

    static T from_py(PyObject* o, const char* what) {
        (void)what;
        if (PyUnicode_Check(o) || PyBytes_Check(o)) {
            raise(PyExc_TypeError, std::string("FloatMatrix row must be an iterable of float, not ") + type_name(o));
        }
        T row;
        reserve_checked("FloatMatrix row", row, size_hint(o));
        for_each_item(o, [&](PyObject* item) { row.push_back(to_double(item, "FloatMatrix element")); });
        return row;
    }
    static py::object to_py(const T& v) {
        py::object list = steal_or_throw(PyList_New(static_cast<Py_ssize_t>(v.size())));
        for (std::size_t i = 0; i < v.size(); ++i) {
            PyList_SET_ITEM(list.ptr(), static_cast<Py_ssize_t>(i), float_to_py(v[i]).release().ptr());
        }
        return list;
    }
    static bool eq_py(const T& v, PyObject* o) {
        if (!PyList_Check(o)) return rich_eq(to_py(v).ptr(), o);
        if (static_cast<std::size_t>(PyList_GET_SIZE(o)) != v.size()) return false;
        // A comparison may run Python code (a float subclass's __eq__) that changes the
        // matrix and frees this very row: compare against a copy (not counted: std::allocator).
        const std::vector<double> row(v.begin(), v.end());
        for (std::size_t i = 0; i < row.size(); ++i) {
            if (static_cast<std::size_t>(PyList_GET_SIZE(o)) != row.size()) return false;
            py::object item = py::reinterpret_borrow<py::object>(PyList_GET_ITEM(o, static_cast<Py_ssize_t>(i)));
            if (!FloatElem::eq_py(row[i], item.ptr())) return false;
        }
        return true;
    }
    template <class F>
    static bool lookup(PyObject* o, F&& f) {
        return scratch_lookup<RowElem>(o, "row", std::forward<F>(f));
    }
    static std::size_t state_size(const T& v) { return varint_size(v.size()) + 8 * v.size(); }
    static void write(StateWriter& w, const T& v) {
        w.varint(v.size());
        for (double d : v) w.f64(d);
    }
    static T read(StateReader& r) {
        const std::size_t n = r.count(8);
        T row;
        reserve_checked("FloatMatrix row", row, n);
        for (std::size_t i = 0; i < n; ++i) row.push_back(r.f64());
        return row;
    }
};

}  // namespace mh
