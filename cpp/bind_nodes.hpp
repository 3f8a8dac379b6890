// bind_map and bind_set: the node-based containers (std::map,
// std::unordered_map, std::unordered_set) as Python classes, composed of the
// capability helpers below and in bind_common.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "bind_common.hpp"
#include "buffer.hpp"
#include "convert.hpp"
#include "elements.hpp"

namespace mh {

// Maps of KeyElem::T to int64 (ValElem = IntElem).
template <class C, class KeyElem, class ValElem>
struct MapLayout {
    using K = typename KeyElem::T;
    struct Adder {
        std::string kwhat, vwhat;
        explicit Adder(const char* cls) : kwhat(std::string(cls) + " key"), vwhat(std::string(cls) + " value") {}
        bool operator()(C& data, PyObject* item) const {
            FixedItems kv(item, 2, "(key, value) pair");
            K k = KeyElem::from_py(kv[0], kwhat.c_str());
            return put(data, std::move(k), ValElem::from_py(kv[1], vwhat.c_str()));
        }
    };
    // m[key] = value; true if the key is new
    static bool put(C& data, K&& k, typename ValElem::T v) {
        return data.insert_or_assign(std::move(k), v).second;  // later duplicates win, as in dict
    }
    static constexpr std::size_t min_state = KeyElem::min_state + ValElem::min_state;
    static std::size_t state_size(const typename C::value_type& kv) {
        return KeyElem::state_size(kv.first) + ValElem::state_size(kv.second);
    }
    static void write(StateWriter& w, const typename C::value_type& kv) {
        KeyElem::write(w, kv.first);
        ValElem::write(w, kv.second);
    }
    static void read_into(StateReader& r, C& data) {
        K k = KeyElem::read(r);
        const typename ValElem::T v = ValElem::read(r);
        if (!data.emplace(std::move(k), v).second) r.fail("duplicate key");
    }
};

template <class C, class Elem>
struct SetLayout {
    struct Adder {
        std::string what;
        explicit Adder(const char* cls) : what(std::string(cls) + " element") {}
        bool operator()(C& data, PyObject* item) const { return data.insert(Elem::from_py(item, what.c_str())).second; }
    };
    static constexpr std::size_t min_state = Elem::min_state;
    static std::size_t state_size(const typename C::value_type& v) { return Elem::state_size(v); }
    static void write(StateWriter& w, const typename C::value_type& v) { Elem::write(w, v); }
    static void read_into(StateReader& r, C& data) {
        if (!data.insert(Elem::read(r)).second) r.fail("duplicate element");
    }
};

template <class C>
struct NodeIter {
    py::object owner;
    Box<C>* box;
    typename C::const_iterator it;
    uint64_t version;
};
template <class C>
struct init_checked<NodeIter<C>> : std::true_type {};

// After Python code ran in the middle of a walk over the nodes (a comparison
// calling a user __eq__), the walk goes on only if the container did not
// change structurally (which would have invalidated the iterator).
template <class BoxT>
void check_unchanged(const BoxT& b, uint64_t version, const char* cls) {
    if (b.version != version) raise(PyExc_RuntimeError, std::string(cls) + " changed during comparison");
}

// Equality with a Python set or dict of the same size, one element of the C++
// container at a time: `match(element)` says whether the Python side holds it
// (raising on a Python error). It may run Python code (a user __eq__ or
// __hash__) that changes the container, so the walk checks after each call
// and goes on only over an unchanged container.
template <class BoxT, class Match>
py::object eq_each(const BoxT& b, const char* cls, Match match) {
    const uint64_t version = b.version;
    for (auto it = b.data.cbegin(); it != b.data.cend(); ++it) {
        const bool same = match(*it);
        check_unchanged(b, version, cls);
        if (!same) return py::bool_(false);
    }
    return py::bool_(true);
}

// ---------------------------------------------------------------------------
// Capabilities.

// iter(c) over the keys; RuntimeError once the container changed structurally.
template <class C, class KeyElem>
void node_iterator(py::module_& m, const char* cls) {
    const std::string it_name = std::string("_") + cls + "Iterator";
    py::class_<NodeIter<C>> itc(m, it_name.c_str());
    refuse_pickle(itc, "iterator");
    itc.def("__iter__", [](py::object self) { return self; })
        .def("__next__", [cls](NodeIter<C>& it) {
            if (it.version != it.box->version) {
                raise(PyExc_RuntimeError, std::string(cls) + " changed during iteration");
            }
            if (it.it == it.box->data.cend()) throw py::stop_iteration();
            const auto& v = *it.it;
            ++it.it;
            if constexpr (std::is_same<typename C::key_type, typename C::value_type>::value) {
                return KeyElem::to_py(v);
            } else {
                return KeyElem::to_py(v.first);
            }
        });
}

// key in c, iter(c), and `remove_name`(key): erase or KeyError (map.__delitem__, set.remove).
template <class C, class KeyElem, class... Extra>
void node_lookup(py::class_<Box<C>>& c, const char* remove_name, const Extra&... remove_extra) {
    using B = Box<C>;
    c.def("__contains__",
          [](const B& b, py::object key) {
              bool found = false;
              KeyElem::lookup(key.ptr(), [&](const typename KeyElem::T& k) { found = b.data.find(k) != b.data.end(); });
              return found;
          })
        .def("__iter__",
             [](py::object self) {
                 B& b = self.cast<B&>();
                 return NodeIter<C>{self, &b, b.data.cbegin(), b.version};
             })
        .def(
            remove_name,
            [](B& b, py::object key) {
                bool erased = false;
                KeyElem::lookup(key.ptr(), [&](const typename KeyElem::T& k) {
                    auto s = b.scope();
                    erased = b.data.erase(k) != 0;
                });
                if (!erased) throw py::key_error(repr_str(key));
                ++b.version;
            },
            remove_extra...);
}

// reserve, rehash, shrink_to_fit, bucket_count, load_factor, max_load_factor.
template <class C>
void hash_methods(py::class_<Box<C>>& c, const char* cls) {
    using B = Box<C>;
    def_reserve(c, cls,
                "Make room for n elements without rehashing (allocates the bucket array). MemoryError before "
                "allocating if n elements (nodes and buckets) could not fit in physical memory.");
    c.def("rehash",
          [cls](B& b, py::object n) {
              const std::string where = std::string(cls) + ".rehash";
              const std::size_t k = to_count(n.ptr(), where.c_str());
              check_capacity(where.c_str(), k, sizeof(void*), b.data.max_bucket_count());
              auto s = b.scope();
              b.data.rehash(k);
              ++b.version;
          },
          py::arg("buckets"))
        .def("shrink_to_fit",
             [](B& b) {
                 auto s = b.scope();
                 b.data.rehash(0);  // the fewest buckets that hold size() at max_load_factor
                 ++b.version;
             },
             "rehash(0): the smallest bucket array for the current size.")
        .def("bucket_count", [](const B& b) { return b.data.bucket_count(); })
        .def("load_factor", [](const B& b) { return b.data.load_factor(); })
        .def("max_load_factor", [](const B& b) { return b.data.max_load_factor(); });
}

template <class C, class KeyElem, class ValElem>
void map_access(py::class_<Box<C>>& c, const char* cls) {
    using B = Box<C>;
    // the value of `key` as a Python object; null if it is not there
    auto find_value = [](const B& b, PyObject* key) {
        py::object result;
        KeyElem::lookup(key, [&](const typename KeyElem::T& k) {
            auto it = b.data.find(k);
            if (it != b.data.end()) result = ValElem::to_py(it->second);
        });
        return result;
    };
    c.def("__getitem__",
          [find_value](const B& b, py::object key) {
              py::object result = find_value(b, key.ptr());
              if (!result) throw py::key_error(repr_str(key));
              return result;
          })
        .def(
            "get",
            [find_value](const B& b, py::object key, py::object dflt) {
                py::object result = find_value(b, key.ptr());
                return result ? result : dflt;
            },
            py::arg("key"), py::arg("default") = py::none())
        .def("__setitem__", [cls](B& b, py::object key, py::object value) {
            auto s = b.scope();
            typename KeyElem::T k = KeyElem::from_py(key.ptr(), (std::string(cls) + " key").c_str());
            const typename ValElem::T v = ValElem::from_py(value.ptr(), (std::string(cls) + " value").c_str());
            if (MapLayout<C, KeyElem, ValElem>::put(b.data, std::move(k), v)) ++b.version;
        });
}

// to_python() -> dict, repr, == dict.
template <class C, class KeyElem, class ValElem>
void map_to_python(py::class_<Box<C>>& c, const char* cls) {
    using B = Box<C>;
    c.def("to_python",
          [](const B& b) {
              // (not py::dict: pybind11 reports a failed PyDict_New as RuntimeError, not MemoryError)
              py::object d = steal_or_throw(PyDict_New());
              for (const auto& kv : b.data) {
                  py::object k = KeyElem::to_py(kv.first), v = ValElem::to_py(kv.second);
                  if (PyDict_SetItem(d.ptr(), k.ptr(), v.ptr()) != 0) throw_py_error();
              }
              return d;
          })
        .def("__repr__", [cls](const B& b) {
            return short_repr(cls, "{", "}", b.data, [](const typename C::value_type& kv) {
                return repr_str(KeyElem::to_py(kv.first)) + ": " + repr_str(ValElem::to_py(kv.second));
            });
        });
    def_eq(c, [cls](const B& b, PyObject* o) -> py::object {
        if (!PyDict_Check(o)) return not_implemented();
        if (static_cast<std::size_t>(PyDict_Size(o)) != b.data.size()) return py::bool_(false);
        // The lookup and the value comparison may change the map (eq_each checks after
        // each pair) and free this node: copy out what is used after the lookup first.
        return eq_each(b, cls, [o](const typename C::value_type& kv) {
            const typename ValElem::T value = kv.second;
            py::object k = KeyElem::to_py(kv.first);
            PyObject* v = PyDict_GetItemWithError(o, k.ptr());  // borrowed
            if (v == nullptr) {
                if (PyErr_Occurred()) throw_py_error();
                return false;
            }
            py::object hold = py::reinterpret_borrow<py::object>(v);
            return ValElem::eq_py(value, v);
        });
    });
}

template <class C, class KeyElem, class ValElem>
py::class_<Box<C>> bind_map(py::module_& m, const ClassSpec& spec) {
    using B = Box<C>;
    using L = MapLayout<C, KeyElem, ValElem>;
    const char* cls = spec.name;
    node_iterator<C, KeyElem>(m, cls);
    py::class_<B> c(m, cls, spec.doc);
    def_init(c, "mapping_or_pairs", [cls](B& b, PyObject* o) {
        auto s = b.scope();
        py::object items;  // a mapping gives its items(), anything else is taken as the pairs
        PyObject* src = o;
        if (PyDict_Check(o) || PyObject_HasAttrString(o, "items")) {
            items = steal_or_throw(PyObject_CallMethod(o, "items", nullptr));
            src = items.ptr();
        }
        fill_items<L>(b.data, src, cls);
        ++b.version;
    });
    def_len(c);
    map_access<C, KeyElem, ValElem>(c, cls);
    node_lookup<C, KeyElem>(c, "__delitem__");
    def_clear(c);
    map_to_python<C, KeyElem, ValElem>(c, cls);
    def_footprint(c, spec.std_sizeof);
    def_state<L>(c, spec);
    if constexpr (is_hashed<C>::value) hash_methods<C>(c, cls);
    finish_class(c);
    return c;
}

// ---------------------------------------------------------------------------
// Sets of int64.

// Every int64 of a 1-D C-contiguous buffer, inserted with the GIL released.
// False (nothing touched) when `o` is not exactly such a buffer and `strict` is false.
template <class C>
bool fill_set_from_buffer(C& data, PyObject* o, bool strict, const char* where) {
    BufferView bv;
    if (!get_exact_buffer(bv, o, 'i', 1, strict, where)) return false;
    const Py_buffer& v = bv.view();
    const std::size_t n = static_cast<std::size_t>(v.len) / 8;
    check_room(where, data, n);  // here: reserved below, with the GIL released
    const char* src = static_cast<const char*>(v.buf);
    {
        py::gil_scoped_release nogil;
        data.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            int64_t x;
            std::memcpy(&x, src + 8 * i, 8);
            data.insert(x);
        }
    }
    return true;
}

// add, discard (remove: node_lookup).
template <class C, class Elem>
void set_modifiers(py::class_<Box<C>>& c, const char* cls) {
    using B = Box<C>;
    c.def(
         "add",
         [cls](B& b, py::object v) {
             auto s = b.scope();
             if (typename SetLayout<C, Elem>::Adder(cls)(b.data, v.ptr())) ++b.version;
         },
         py::arg("value"))
        .def(
            "discard",
            [](B& b, py::object v) {
                Elem::lookup(v.ptr(), [&](const typename Elem::T& k) {
                    auto s = b.scope();
                    if (b.data.erase(k)) ++b.version;
                });
            },
            py::arg("value"));
}

// to_python() -> set, repr, == set / frozenset.
template <class C, class Elem>
void set_to_python(py::class_<Box<C>>& c, const char* cls) {
    using B = Box<C>;
    c.def("to_python",
          [](const B& b) {
              py::object s = steal_or_throw(PySet_New(nullptr));
              for (const auto& k : b.data) {
                  if (PySet_Add(s.ptr(), Elem::to_py(k).ptr()) != 0) throw_py_error();
              }
              return s;
          })
        .def("__repr__", [cls](const B& b) {
            return short_repr(cls, "[", "]", b.data, [](const typename Elem::T& v) { return repr_str(Elem::to_py(v)); });
        });
    def_eq(c, [cls](const B& b, PyObject* o) -> py::object {
        if (!PyAnySet_Check(o)) return not_implemented();
        if (static_cast<std::size_t>(PySet_GET_SIZE(o)) != b.data.size()) return py::bool_(false);
        // PySet_Contains may run Python code (__eq__ of the set's elements) that changes
        // this set: eq_each checks after each element.
        return eq_each(b, cls, [o](const typename Elem::T& k) {
            const int r = PySet_Contains(o, Elem::to_py(k).ptr());
            if (r < 0) throw_py_error();
            return r == 1;
        });
    });
}

template <class C, class Elem>
py::class_<Box<C>> bind_set(py::module_& m, const ClassSpec& spec) {
    using B = Box<C>;
    const char* cls = spec.name;
    // (the constructor's buffer path reports its errors as from_buffer's, too)
    const std::string buffer_where = std::string(cls) + ".from_buffer";
    node_iterator<C, Elem>(m, cls);
    py::class_<B> c(m, cls, spec.doc);
    def_init(c, "iterable", [cls, buffer_where](B& b, PyObject* o) {
        auto s = b.scope();
        if (!fill_set_from_buffer(b.data, o, false, buffer_where.c_str())) fill_items<SetLayout<C, Elem>>(b.data, o, cls);
    });
    def_from_buffer(c, cls, fill_set_from_buffer<C>,
                    "Insert every int64 of a 1-D C-contiguous buffer (GIL released). ValueError otherwise.");
    def_len(c);
    node_lookup<C, Elem>(c, "remove", py::arg("value"));
    set_modifiers<C, Elem>(c, cls);
    def_clear(c);
    set_to_python<C, Elem>(c, cls);
    def_footprint(c, spec.std_sizeof);
    def_state<SetLayout<C, Elem>>(c, spec);
    hash_methods<C>(c, cls);
    finish_class(c);
    return c;
}

}  // namespace mh
