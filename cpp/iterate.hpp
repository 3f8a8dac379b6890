// Reading Python iterables from C++: every item held while C++ code (which may
// run Python code) looks at it, the size hint for reserve(), and the items of
// fixed-length elements ((key, value) pairs, records).
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <string>

#include "errors.hpp"

namespace mh {

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

}  // namespace mh
