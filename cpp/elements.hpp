// Element types of the containers and their Python conversions ("traits").
//
// Each trait `E` gives: E::T, from_py (strict: TypeError / OverflowError /
// ValueError), to_py, eq_py (Python == semantics against one Python element),
// lookup (lenient: calls f(key) when the object could be an element, returns
// false when it cannot), and the pickle state encoding (state_size, write,
// read, min_state = fewest bytes one element takes in the state).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "counting_allocator.hpp"
#include "pyutil.hpp"

namespace mh {

template <class T>
using CA = CountingAllocator<T>;
template <class T>
using SA = ScopedCountingAllocator<T>;

// A std::string whose heap block (strings longer than the SSO capacity, 15
// chars in libstdc++) is counted. Same layout and sizeof as std::string.
using cstring = std::basic_string<char, std::char_traits<char>, SA<char>>;

// Same hash values as std::hash<std::string>. Deliberately not noexcept:
// libstdc++ then caches the hash code in each node exactly as it does for
// std::unordered_map<std::string, ...> (a noexcept hasher would make the
// nodes 8 bytes smaller than the std::string equivalent's).
struct CStringHash {
    std::size_t operator()(const cstring& s) const { return std::hash<std::string_view>{}(std::string_view(s.data(), s.size())); }
};

// Rows of FloatMatrix: same layout and sizeof as std::vector<double>.
using Row = std::vector<double, SA<double>>;

struct Record {
    int64_t id = 0;
    double x = 0.0;
    double y = 0.0;
    cstring name;
    bool operator==(const Record& o) const noexcept { return id == o.id && x == o.x && y == o.y && name == o.name; }
};

// The std:: type each counted container stands for (what sizeof reports).
struct StdRecord {
    int64_t id;
    double x, y;
    std::string name;
};

using IntVec = std::vector<int64_t, CA<int64_t>>;
using FloatVec = std::vector<double, CA<double>>;
using StrVec = std::vector<cstring, CA<cstring>>;
using RecordVec = std::vector<Record, CA<Record>>;
using Matrix = std::vector<Row, CA<Row>>;
using IntIntHash = std::unordered_map<int64_t, int64_t, std::hash<int64_t>, std::equal_to<int64_t>,
                                      CA<std::pair<const int64_t, int64_t>>>;
using IntIntTree = std::map<int64_t, int64_t, std::less<int64_t>, CA<std::pair<const int64_t, int64_t>>>;
using IntSet = std::unordered_set<int64_t, std::hash<int64_t>, std::equal_to<int64_t>, CA<int64_t>>;
using StrIntHash = std::unordered_map<cstring, int64_t, CStringHash, std::equal_to<cstring>,
                                      CA<std::pair<const cstring, int64_t>>>;

// ---------------------------------------------------------------------------
// Iteration over any Python iterable; lists and tuples without an iterator.
// Items are held (new references) while f runs, and the size is re-read every
// step, so f may run arbitrary Python code safely.
template <class F>
void for_each_item(PyObject* iterable, F&& f) {
    if (PyList_CheckExact(iterable) || PyTuple_CheckExact(iterable)) {
        const bool is_list = PyList_CheckExact(iterable);
        for (Py_ssize_t i = 0;; ++i) {
            const Py_ssize_t n = is_list ? PyList_GET_SIZE(iterable) : PyTuple_GET_SIZE(iterable);
            if (i >= n) break;
            py::object item = py::reinterpret_borrow<py::object>(is_list ? PyList_GET_ITEM(iterable, i)
                                                                         : PyTuple_GET_ITEM(iterable, i));
            f(item.ptr());
        }
        return;
    }
    py::object it = steal_or_throw(PyObject_GetIter(iterable));
    while (PyObject* raw = PyIter_Next(it.ptr())) {
        py::object item = py::reinterpret_steal<py::object>(raw);
        f(item.ptr());
    }
    if (PyErr_Occurred()) throw_py_error();
}

// len() if the object has one, else its __length_hint__, else 0.
inline std::size_t size_hint(PyObject* o) {
    const Py_ssize_t n = PyObject_LengthHint(o, 0);
    if (n < 0) {
        if (PyErr_ExceptionMatches(PyExc_TypeError) || PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            return 0;
        }
        throw_py_error();
    }
    return static_cast<std::size_t>(n);
}

// Items of a fixed-length tuple/list-like element ((key, value) pairs, records).
class FixedItems {
public:
    FixedItems(PyObject* o, Py_ssize_t n, const char* what) {
        if (PyUnicode_Check(o) || PyBytes_Check(o) || !PySequence_Check(o)) {
            raise(PyExc_TypeError, std::string(what) + " must be a sequence of " + std::to_string(n) +
                                       " items, not " + type_name(o));
        }
        // A tuple (the very object if it is one, else a copy): converting one item may run
        // Python code (__index__, __float__) that changes a list given here, and the items
        // read after it must still exist.
        Py_ssize_t len = PySequence_Size(o);  // first: no copy of a huge sequence (range(10**9))
        if (len < 0) {
            if (!PyErr_ExceptionMatches(PyExc_TypeError)) throw_py_error();
            PyErr_Clear();  // __getitem__ without __len__: iterate it
            len = n;
        }
        if (len == n) {
            seq_ = steal_or_throw(PySequence_Tuple(o));
            len = PyTuple_GET_SIZE(seq_.ptr());
        }
        if (len != n) {
            raise(PyExc_ValueError,
                  std::string(what) + " has " + std::to_string(len) + " items, " + std::to_string(n) + " required");
        }
    }
    PyObject* operator[](Py_ssize_t i) const { return PyTuple_GET_ITEM(seq_.ptr(), i); }

private:
    py::object seq_;
};

// Runs f with the current error as nullopt-like "not an element" when the
// conversion fails with TypeError / ValueError / OverflowError.
inline bool conversion_failed(py::error_already_set& e) {
    return e.matches(PyExc_TypeError) || e.matches(PyExc_ValueError) || e.matches(PyExc_OverflowError);
}

// ---------------------------------------------------------------------------
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

struct IntElem {
    using T = int64_t;
    static constexpr const char* py_name = "int";
    static constexpr std::size_t min_state = 8;
    static constexpr char buffer_kind = 'i';

    static T from_py(PyObject* o, const char* what) { return to_int64(o, what); }
    static py::object to_py(const T& v) { return int_to_py(v); }
    static bool eq_py(const T& v, PyObject* o) {
        if (PyLong_CheckExact(o)) {
            int overflow = 0;
            const long long w = PyLong_AsLongLongAndOverflow(o, &overflow);
            if (w == -1 && PyErr_Occurred()) throw_py_error();
            return overflow == 0 && static_cast<int64_t>(w) == v;
        }
        return rich_eq(to_py(v).ptr(), o);
    }
    template <class F>
    static bool lookup(PyObject* o, F&& f) {
        const auto k = lookup_int64(o);
        if (!k) return false;
        f(*k);
        return true;
    }
    static std::size_t state_size(const T&) { return 8; }
    static void write(StateWriter& w, const T& v) { w.i64(v); }
    static T read(StateReader& r) { return r.i64(); }
};

struct FloatElem {
    using T = double;
    static constexpr const char* py_name = "float";
    static constexpr std::size_t min_state = 8;
    static constexpr char buffer_kind = 'f';

    static T from_py(PyObject* o, const char* what) { return to_double(o, what); }
    static py::object to_py(const T& v) { return float_to_py(v); }
    static bool eq_py(const T& v, PyObject* o) {
        if (PyFloat_CheckExact(o)) return v == PyFloat_AS_DOUBLE(o);  // NaN never equal
        return rich_eq(to_py(v).ptr(), o);
    }
    template <class F>
    static bool lookup(PyObject* o, F&& f) {
        const auto d = lookup_double(o);
        if (!d) return false;
        f(*d);
        return true;
    }
    static std::size_t state_size(const T&) { return 8; }
    static void write(StateWriter& w, const T& v) { w.f64(v); }
    static T read(StateReader& r) { return r.f64(); }
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
