// Refuses to hand a never-initialised instance to C++ code.
//
// `Cls.__new__(Cls)` makes a pybind11 instance whose C++ object was never
// constructed (its __init__ never ran). pybind11 (3.1, issue #6153) does not
// check for that when it converts the instance to `Cls&`: it allocates raw,
// uninitialised memory for the value ("lazy allocation") and hands it to the
// method, which then reads garbage (wrong sizes, a segfault, heap corruption).
//
// For every class whose trait `mh::init_checked<T>` is true, the type caster
// below first checks that the instance's holder was constructed (by __init__,
// by __setstate__ or by returning a new object from C++), and raises
// TypeError("Cls.__init__ was not called") otherwise. pickle's own
// `cls.__new__(cls)` + `__setstate__(state)` is unaffected: __setstate__
// constructs the holder without converting the instance.
//
// The converse, refuse_reinit below: __init__ or __setstate__ called again on
// an instance that is already built raises TypeError instead of being ignored.
#pragma once

#include <pybind11/pybind11.h>

#include "counting_allocator.hpp"

#include <string>
#include <type_traits>
#include <typeinfo>

namespace mh {

template <class T>
struct init_checked : std::false_type {};

inline std::string short_type_name(PyObject* o) {
    std::string name = Py_TYPE(o)->tp_name;
    const auto dot = name.rfind('.');
    if (dot != std::string::npos) name.erase(0, dot + 1);
    return name;
}

[[noreturn]] inline void raise_not_initialised(PyObject* o) {
    const std::string name = short_type_name(o);
    throw pybind11::type_error(name + ".__init__ was not called (the instance was made with " + name +
                               ".__new__ and never initialised)");
}

enum class init_state { not_an_instance, uninitialised, initialised };

// Whether `src`, an instance of the class bound to the C++ type `ti`, holds a
// constructed C++ object (built by __init__, by __setstate__ or returned from C++).
inline init_state state_of(pybind11::handle src, const std::type_info& ti) {
    namespace pd = pybind11::detail;
    pd::type_info* tinfo = pd::get_type_info(ti);
    if (tinfo == nullptr || src.ptr() == nullptr || !PyObject_TypeCheck(src.ptr(), tinfo->type)) {
        return init_state::not_an_instance;
    }
    auto* inst = reinterpret_cast<pd::instance*>(src.ptr());
    const pd::value_and_holder vh = inst->get_value_and_holder(tinfo, /*throw_if_missing=*/false);
    if (vh.vh == nullptr || !vh || !vh.holder_constructed()) return init_state::uninitialised;
    return init_state::initialised;
}

// `src` converts to the C++ type `ti` only if it is fully initialised.
inline void require_initialised(pybind11::handle src, const std::type_info& ti) {
    prepare_thread();  // every method on a container passes here first (see counting_allocator.hpp)
    if (state_of(src, ti) == init_state::uninitialised) raise_not_initialised(src.ptr());
}

// __init__ or __setstate__ called again on an instance that is already built:
// pybind11's dispatcher (3.1) silently ignores the call (it cannot rebuild a C++
// object in place), so `v.__init__([3])` looked as if it worked and did nothing.
// refuse_reinit(c) wraps both methods of class c: TypeError on an initialised
// instance, before anything changes; otherwise the original runs (construction,
// cls.__new__(cls) + __setstate__ for pickle and copy, a subclass's super().__init__).
template <class PyClass>
void refuse_reinit(PyClass& c) {
    namespace py = pybind11;
    using T = typename PyClass::type;
    py::dict own = c.attr("__dict__");
    // (the wrappers' own names must differ: pybind11 treats any function named __init__ or
    // __setstate__ as a constructor, and its dispatcher would ignore the call before the check)
    static const char* const methods[][2] = {{"__init__", "init_once"}, {"__setstate__", "setstate_once"}};
    for (const auto& m : methods) {
        const char* method = m[0];
        if (!own.contains(method)) continue;
        py::object original = c.attr(method);
        const std::string doc = "Raises TypeError on an instance that is already initialised.\n\n" +
                                py::str(original.attr("__doc__")).cast<std::string>();
        c.attr(method) = py::cpp_function(
            [original, method](py::handle self, py::args args, py::kwargs kwargs) -> py::object {
                if (state_of(self, typeid(T)) == init_state::initialised) {
                    const std::string name = short_type_name(self.ptr());
                    throw py::type_error(name + "." + method + "() called on an instance that is already "
                                         "initialised (it would be silently ignored); make a new " + name +
                                         " instead");
                }
                return original(self, *args, **kwargs);
            },
            py::name(m[1]), py::is_method(c), py::doc(doc.c_str()));
    }
}

}  // namespace mh

namespace pybind11 {
namespace detail {

template <class T>
class type_caster<T, enable_if_t<mh::init_checked<T>::value>> : public type_caster_base<T> {
public:
    bool load(handle src, bool convert) {
        mh::require_initialised(src, typeid(T));
        return type_caster_base<T>::load(src, convert);
    }
};

}  // namespace detail
}  // namespace pybind11
