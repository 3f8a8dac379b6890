// Strict conversions between Python objects and element values (int64,
// float64, UTF-8 strings), the lenient probes used by lookups, and the index
// and count arguments of the containers' methods.
#pragma once

#include <pybind11/pybind11.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "errors.hpp"

namespace mh {


inline int64_t long_to_int64(PyObject* lng, const char* what) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(lng, &overflow);
    if (overflow != 0) raise(PyExc_OverflowError, std::string(what) + " does not fit in int64");
    if (v == -1 && PyErr_Occurred()) throw_py_error();
    return static_cast<int64_t>(v);
}

// int, bool and anything with __index__ (numpy integers). float, str, None...
// -> TypeError; out of int64 range -> OverflowError. Like array('q').
inline int64_t to_int64(PyObject* o, const char* what) {
    if (PyLong_Check(o)) return long_to_int64(o, what);
    if (PyFloat_Check(o) || !PyIndex_Check(o)) {
        raise(PyExc_TypeError, std::string(what) + " must be an int, not " + type_name(o));
    }
    py::object idx = steal_or_throw(PyNumber_Index(o));
    return long_to_int64(idx.ptr(), what);
}

// Lenient key for lookups (__contains__, __getitem__ of maps): an int-like
// value, or a float with an integral value (2.0 == 2 in Python); anything
// else cannot be present.
inline std::optional<int64_t> lookup_int64(PyObject* o) {
    if (PyLong_Check(o) || (!PyFloat_Check(o) && PyIndex_Check(o))) {
        py::object idx = steal_or_throw(PyNumber_Index(o));
        int overflow = 0;
        const long long v = PyLong_AsLongLongAndOverflow(idx.ptr(), &overflow);
        if (overflow != 0) return std::nullopt;
        if (v == -1 && PyErr_Occurred()) throw_py_error();
        return static_cast<int64_t>(v);
    }
    if (PyFloat_Check(o)) {
        const double d = PyFloat_AS_DOUBLE(o);
        if (std::isfinite(d) && d == std::floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
            return static_cast<int64_t>(d);
        }
    }
    return std::nullopt;
}

// float, int, bool, or anything with __float__/__index__ (like array('d')).
// str/bytes/None -> TypeError; an int too large for a double -> OverflowError.
inline double to_double(PyObject* o, const char* what) {
    if (PyFloat_CheckExact(o)) return PyFloat_AS_DOUBLE(o);
    const double d = PyFloat_AsDouble(o);
    if (d == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            raise(PyExc_TypeError, std::string(what) + " must be a float (or int), not " + type_name(o));
        }
        throw_py_error();
    }
    return d;
}

inline std::optional<double> lookup_double(PyObject* o) {
    if (PyUnicode_Check(o) || PyBytes_Check(o) || PyByteArray_Check(o)) return std::nullopt;
    const double d = PyFloat_AsDouble(o);
    if (d == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_TypeError) || PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            return std::nullopt;
        }
        throw_py_error();
    }
    return d;
}

// UTF-8 bytes of a str without side effects on the str object:
// PyUnicode_AsUTF8AndSize would cache a UTF-8 copy inside non-ASCII strings
// and change the very Python objects the harness measures. Compact ASCII
// strings are already UTF-8; others are encoded into a temporary bytes.
// bytes (or anything else) -> TypeError; lone surrogates -> UnicodeEncodeError.
class Utf8View {
public:
    Utf8View(PyObject* o, const char* what) {
        if (!PyUnicode_Check(o)) raise(PyExc_TypeError, std::string(what) + " must be str, not " + type_name(o));
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(o) != 0) throw_py_error();
#endif
        if (PyUnicode_IS_COMPACT_ASCII(o)) {
            data_ = static_cast<const char*>(PyUnicode_DATA(o));
            size_ = static_cast<std::size_t>(PyUnicode_GET_LENGTH(o));
        } else {
            tmp_ = steal_or_throw(PyUnicode_AsUTF8String(o));
            data_ = PyBytes_AS_STRING(tmp_.ptr());
            size_ = static_cast<std::size_t>(PyBytes_GET_SIZE(tmp_.ptr()));
        }
    }
    std::string_view view() const noexcept { return {data_, size_}; }

private:
    py::object tmp_;
    const char* data_ = nullptr;
    std::size_t size_ = 0;
};

inline py::object str_from_utf8(const char* data, std::size_t n) {
    return steal_or_throw(PyUnicode_DecodeUTF8(data, static_cast<Py_ssize_t>(n), "strict"));
}

inline py::object int_to_py(int64_t v) { return steal_or_throw(PyLong_FromLongLong(v)); }
inline py::object float_to_py(double v) { return steal_or_throw(PyFloat_FromDouble(v)); }

inline bool rich_eq(PyObject* a, PyObject* b) {
    const int r = PyObject_RichCompareBool(a, b, Py_EQ);
    if (r < 0) throw_py_error();
    return r == 1;
}

// Index for vectors: int-like only (TypeError otherwise), negative counts from
// the end, out of range -> IndexError. In two steps, because the conversion may
// run Python code (an __index__ method) that changes the container: convert
// first (index_value), then check against the size read after it (wrap_index).
inline Py_ssize_t index_value(PyObject* o, const char* cls) {
    if (PyFloat_Check(o) || !PyIndex_Check(o)) {
        raise(PyExc_TypeError, std::string(cls) + " indices must be integers, not " + type_name(o));
    }
    py::object idx = steal_or_throw(PyNumber_Index(o));
    const Py_ssize_t i = PyNumber_AsSsize_t(idx.ptr(), nullptr);  // clamps on overflow
    if (i == -1 && PyErr_Occurred()) throw_py_error();
    return i;
}

inline std::size_t wrap_index(Py_ssize_t i, std::size_t n, const char* cls) {
    const Py_ssize_t sn = static_cast<Py_ssize_t>(n);
    const Py_ssize_t j = i < 0 ? i + sn : i;
    if (j < 0 || j >= sn) raise(PyExc_IndexError, std::string(cls) + " index out of range");
    return static_cast<std::size_t>(j);
}

// Count for reserve()/rehash(): int-like, >= 0 (ValueError), fits memory
// (MemoryError, checked before anything is allocated).
inline std::size_t to_count(PyObject* o, const char* where) {
    const int64_t n = to_int64(o, where);
    if (n < 0) raise(PyExc_ValueError, std::string(where) + " must be >= 0, got " + std::to_string(n));
    return static_cast<std::size_t>(n);
}

}  // namespace mh
