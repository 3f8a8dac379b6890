#include <pybind11/pybind11.h>
namespace py = pybind11;
PYBIND11_MODULE(_containers, m) { m.doc() = "memharness C++ containers (skeleton)"; }
