// The buffer protocol: a held Py_buffer, and the checks that decide whether a
// buffer is exactly the element dtype (strictly for from_buffer, as a fast
// path for the constructors).
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "errors.hpp"

namespace mh {


class BufferView {
public:
    BufferView() = default;
    ~BufferView() {
        if (held_) PyBuffer_Release(&view_);
    }
    BufferView(const BufferView&) = delete;
    BufferView& operator=(const BufferView&) = delete;

    bool get(PyObject* o) {
        if (PyObject_GetBuffer(o, &view_, PyBUF_RECORDS_RO) != 0) return false;
        held_ = true;
        return true;
    }
    const Py_buffer& view() const noexcept { return view_; }

private:
    Py_buffer view_{};
    bool held_ = false;
};

inline std::string buffer_format(const Py_buffer& v) { return v.format ? std::string(v.format) : std::string("B"); }

// True iff the format describes exactly one native little-endian item of the
// requested kind: 'i' for int64 ('q', or 'l' where long is 8 bytes), 'f' for
// float64 ('d').
inline bool format_matches(const Py_buffer& v, char kind) {
    if (v.itemsize != 8) return false;
    std::string f = buffer_format(v);
    if (!f.empty() && (f[0] == '@' || f[0] == '=')) f.erase(0, 1);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    else if (!f.empty() && f[0] == '<') f.erase(0, 1);
#endif
    if (f.size() != 1) return false;
    if (kind == 'f') return f[0] == 'd';
    return f[0] == 'q' || (f[0] == 'l' && sizeof(long) == 8);
}

// Checked view of a numeric buffer for from_buffer(): exact dtype, C-contiguous,
// given number of dimensions; ValueError otherwise (we never copy-convert
// silently), TypeError if `o` does not support the buffer protocol at all.
inline void get_strict_buffer(BufferView& bv, PyObject* o, char kind, int ndim, const char* where) {
    const char* dtype = kind == 'f' ? "float64" : "int64";
    if (!PyObject_CheckBuffer(o)) {
        raise(PyExc_TypeError, std::string(where) + " needs an object supporting the buffer protocol (e.g. a numpy " +
                                   dtype + " array), not " + type_name(o));
    }
    if (!bv.get(o)) throw_py_error();
    const Py_buffer& v = bv.view();
    if (!format_matches(v, kind)) {
        raise(PyExc_ValueError, std::string(where) + " needs " + dtype + " data (buffer format " +
                                    (kind == 'f' ? "'d'" : "'q' or 'l'") + ", itemsize 8), got format '" +
                                    buffer_format(v) + "' with itemsize " + std::to_string(v.itemsize) +
                                    "; convert explicitly, e.g. numpy.asarray(a, dtype=numpy." + dtype +
                                    "); from_buffer never converts silently");
    }
    if (v.ndim != ndim) {
        raise(PyExc_ValueError, std::string(where) + " needs a " + std::to_string(ndim) + "-D buffer, got " +
                                    std::to_string(v.ndim) + "-D");
    }
    if (!PyBuffer_IsContiguous(&v, 'C')) {
        raise(PyExc_ValueError, std::string(where) +
                                    " needs a C-contiguous buffer; this one is strided. from_buffer does not copy "
                                    "silently: pass numpy.ascontiguousarray(a) if a copy is what you want");
    }
}

// The buffer of `o` for a constructor's fast path: strict (from_buffer), as
// get_strict_buffer; otherwise true only when `o` is exactly such a buffer,
// and false, with no error set, for anything else (which then takes the slow
// path). Bytes-like objects never take the fast path: they are not numbers.
inline bool get_exact_buffer(BufferView& bv, PyObject* o, char kind, int ndim, bool strict, const char* where) {
    if (strict) {
        get_strict_buffer(bv, o, kind, ndim, where);
        return true;
    }
    if (!PyObject_CheckBuffer(o) || PyBytes_Check(o) || PyByteArray_Check(o)) return false;
    if (!bv.get(o)) {
        PyErr_Clear();
        return false;
    }
    const Py_buffer& v = bv.view();
    return format_matches(v, kind) && v.ndim == ndim && PyBuffer_IsContiguous(&v, 'C');
}

}  // namespace mh
