// Python errors from C++: raise an exception (the error indicator is set, then
// py::error_already_set carries it through pybind11), and the small helpers
// around CPython calls that return a new reference or nullptr.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

namespace mh {

namespace py = pybind11;

[[noreturn]] inline void raise(PyObject* type, const std::string& msg) {
    PyErr_SetString(type, msg.c_str());
    throw py::error_already_set();
}

[[noreturn]] inline void throw_py_error() { throw py::error_already_set(); }

inline py::object steal_or_throw(PyObject* o) {
    if (o == nullptr) throw_py_error();
    return py::reinterpret_steal<py::object>(o);
}

inline std::string type_name(PyObject* o) { return Py_TYPE(o)->tp_name; }

inline py::object not_implemented() { return py::reinterpret_borrow<py::object>(Py_NotImplemented); }

// repr(o) as a std::string (for messages and __repr__).
inline std::string repr_str(py::handle o) { return py::repr(o).cast<std::string>(); }

// A failed conversion of a would-be element that means "this cannot be an
// element" (TypeError / ValueError / OverflowError), as opposed to a real error.
inline bool conversion_failed(py::error_already_set& e) {
    return e.matches(PyExc_TypeError) || e.matches(PyExc_ValueError) || e.matches(PyExc_OverflowError);
}

}  // namespace mh
