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
#pragma once

#include <pybind11/pybind11.h>

#include "counting_allocator.hpp"

#include <string>
#include <type_traits>
#include <typeinfo>

namespace mh {

template <class T>
struct init_checked : std::false_type {};

[[noreturn]] inline void raise_not_initialised(PyObject* o) {
    std::string name = Py_TYPE(o)->tp_name;
    const auto dot = name.rfind('.');
    if (dot != std::string::npos) name.erase(0, dot + 1);
    throw pybind11::type_error(name + ".__init__ was not called (the instance was made with " + name +
                               ".__new__ and never initialised)");
}

// `src` converts to the C++ type `ti` only if it is fully initialised.
inline void require_initialised(pybind11::handle src, const std::type_info& ti) {
    prepare_thread();  // every method on a container passes here first (see counting_allocator.hpp)
    namespace pd = pybind11::detail;
    pd::type_info* tinfo = pd::get_type_info(ti);
    if (tinfo == nullptr || src.ptr() == nullptr || !PyObject_TypeCheck(src.ptr(), tinfo->type)) return;
    auto* inst = reinterpret_cast<pd::instance*>(src.ptr());
    const pd::value_and_holder vh = inst->get_value_and_holder(tinfo, /*throw_if_missing=*/false);
    if (!vh || !vh.holder_constructed()) raise_not_initialised(src.ptr());
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
