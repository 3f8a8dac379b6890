// Python-facing helpers: strict conversions, errors, size caps, the buffer
// protocol, the footprint dict and the binary pickle state format.
#pragma once

#include <pybind11/pybind11.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "counting_allocator.hpp"

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

// ---------------------------------------------------------------------------
// Memory caps.

inline std::size_t physical_memory() noexcept {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0) return std::numeric_limits<std::size_t>::max();
    return static_cast<std::size_t>(pages) * static_cast<std::size_t>(page);
}

// Raises MemoryError when n items exceed `max_items` (the container's
// max_size()), or when n items of `item_bytes` each cannot fit in physical
// memory (sysconf: _SC_PHYS_PAGES * _SC_PAGE_SIZE; no overflow: n * item_bytes
// is never computed); the message says which. Called before allocating.
inline void check_capacity(const char* where, std::size_t n, std::size_t item_bytes, std::size_t max_items) {
    if (n > max_items) {
        raise(PyExc_MemoryError, std::string(where) + ": " + std::to_string(n) + " items exceed max_size() (" +
                                     std::to_string(max_items) + ")");
    }
    const std::size_t phys = physical_memory();
    if (item_bytes != 0 && n > phys / item_bytes) {
        raise(PyExc_MemoryError, std::string(where) + ": " + std::to_string(n) + " items of at least " +
                                     std::to_string(item_bytes) + " bytes would exceed physical memory (" +
                                     std::to_string(phys) + " bytes)");
    }
}

// The fewest bytes one element of container C takes: the element itself in a
// vector; in a hashed container (it has buckets) its node, a next pointer and
// the value (libstdc++ may add a cached hash), plus one bucket pointer at the
// default max_load_factor of 1. (Its reserve(n) allocates only the buckets, but
// promises room for n nodes: checking the buckets alone let reserve(10**9) by.)
template <class C, class = void>
struct is_hashed : std::false_type {};
template <class C>
struct is_hashed<C, std::void_t<decltype(std::declval<const C&>().bucket_count())>> : std::true_type {};

template <class C>
constexpr std::size_t element_bytes() {
    return sizeof(typename C::value_type) + (is_hashed<C>::value ? 2 * sizeof(void*) : 0);
}

// MemoryError (before anything is allocated) unless c can hold n elements.
template <class C>
void check_room(const char* where, const C& c, std::size_t n) {
    check_capacity(where, n, element_bytes<C>(), c.max_size());
}

// c.reserve(n) once check_room passed: every reserve the extension makes from a
// size it was given (reserve(), a size hint, a count in a pickle state).
template <class C>
void reserve_checked(const char* where, C& c, std::size_t n) {
    check_room(where, c, n);
    c.reserve(n);
}

// Large fresh blocks about to be filled completely (from_buffer): ask for
// transparent huge pages, as numpy does for its own arrays of 4 MiB or more,
// so that first touch costs one page fault per 2 MiB instead of per 4 KiB.
// Every byte is written at once, so this does not inflate RSS.
inline void advise_hugepages(void* p, std::size_t bytes) noexcept {
#if defined(MADV_HUGEPAGE)
    if (bytes < (std::size_t(1) << 22)) return;
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGE_SIZE));
    const auto start = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t aligned = (start + page - 1) & ~(static_cast<std::uintptr_t>(page) - 1);
    if (aligned - start >= bytes) return;
    madvise(reinterpret_cast<void*>(aligned), bytes - (aligned - start), MADV_HUGEPAGE);  // advisory: ignore errors
#else
    (void)p;
    (void)bytes;
#endif
}

// ---------------------------------------------------------------------------
// Strict element conversions.

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

// ---------------------------------------------------------------------------
// Buffer protocol.

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

// ---------------------------------------------------------------------------
// Footprint.

inline py::dict counters_dict(std::size_t requested, std::size_t allocated, std::size_t live,
                              std::size_t peak_requested, std::size_t peak_allocated, std::size_t total) {
    py::dict d;
    d["requested"] = requested;
    d["allocated"] = allocated;
    d["live_allocations"] = live;
    d["peak_requested"] = peak_requested;
    d["peak_allocated"] = peak_allocated;
    d["total_allocations"] = total;
    return d;
}

inline py::dict footprint_dict(const Counters& c, std::size_t sizeof_, std::size_t n) {
    py::dict d = counters_dict(c.requested, c.allocated, c.live, c.peak_requested, c.peak_allocated, c.total);
    d["allocated_nominal"] = c.nominal;
    d["sizeof"] = sizeof_;
    d["n"] = n;
    return d;
}

// ---------------------------------------------------------------------------
// Binary pickle state: "MH" + tag byte + version byte, then unsigned LEB128
// varints for counts and lengths, raw little-endian int64/float64, and
// length-prefixed UTF-8 strings.

constexpr char kStateVersion = 1;

inline std::size_t varint_size(uint64_t v) noexcept {
    std::size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

inline uint64_t bswap_if_big(uint64_t v) noexcept {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap64(v);
#else
    return v;
#endif
}

class StateWriter {
public:
    StateWriter(char tag, std::size_t payload_size) {
        bytes_ = steal_or_throw(PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(payload_size + 4)));
        p_ = PyBytes_AS_STRING(bytes_.ptr());
        end_ = p_ + payload_size + 4;
        *p_++ = 'M';
        *p_++ = 'H';
        *p_++ = tag;
        *p_++ = kStateVersion;
    }
    void varint(uint64_t v) {
        while (v >= 0x80) {
            put_byte(static_cast<char>((v & 0x7f) | 0x80));
            v >>= 7;
        }
        put_byte(static_cast<char>(v));
    }
    void i64(int64_t v) {
        uint64_t u;
        std::memcpy(&u, &v, 8);
        u = bswap_if_big(u);
        raw(&u, 8);
    }
    void f64(double v) {
        uint64_t u;
        std::memcpy(&u, &v, 8);
        u = bswap_if_big(u);
        raw(&u, 8);
    }
    void str(std::string_view s) {
        varint(s.size());
        raw(s.data(), s.size());
    }
    void raw(const void* src, std::size_t n) {
        if (static_cast<std::size_t>(end_ - p_) < n) overflow();
        if (n) std::memcpy(p_, src, n);
        p_ += n;
    }
    py::bytes finish() {
        if (p_ != end_) overflow();
        return py::reinterpret_steal<py::bytes>(bytes_.release());
    }

private:
    void put_byte(char c) {
        if (p_ == end_) overflow();
        *p_++ = c;
    }
    [[noreturn]] static void overflow() { raise(PyExc_RuntimeError, "internal error: pickle state size mismatch"); }
    py::object bytes_;
    char* p_ = nullptr;
    char* end_ = nullptr;
};

inline std::size_t str_state_size(std::size_t n) { return varint_size(n) + n; }

class StateReader {
public:
    StateReader(const py::bytes& b, char tag, const char* cls) : cls_(cls) {
        char* data = nullptr;
        Py_ssize_t n = 0;
        if (PyBytes_AsStringAndSize(b.ptr(), &data, &n) != 0) throw_py_error();
        p_ = data;
        end_ = data + n;
        if (n < 4 || p_[0] != 'M' || p_[1] != 'H') fail("bad header");
        if (p_[2] != tag) fail("state belongs to another class");
        if (p_[3] != kStateVersion) fail("unknown state version " + std::to_string(static_cast<int>(p_[3])));
        p_ += 4;
    }
    uint64_t varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p_ == end_) fail("truncated varint");
            const auto b = static_cast<unsigned char>(*p_++);
            if (shift == 63 && (b & 0x7e) != 0) fail("varint overflows 64 bits");
            v |= static_cast<uint64_t>(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return v;
        }
        fail("varint too long");
    }
    // A count of items that need at least `min_item_bytes` each: rejected
    // before anything is reserved if the rest of the state cannot hold them.
    std::size_t count(std::size_t min_item_bytes) {
        const uint64_t n = varint();
        if (min_item_bytes == 0) min_item_bytes = 1;
        if (n > remaining() / min_item_bytes) fail("count " + std::to_string(n) + " exceeds the data");
        return static_cast<std::size_t>(n);
    }
    int64_t i64() {
        uint64_t u;
        raw(&u, 8);
        u = bswap_if_big(u);
        int64_t v;
        std::memcpy(&v, &u, 8);
        return v;
    }
    double f64() {
        uint64_t u;
        raw(&u, 8);
        u = bswap_if_big(u);
        double v;
        std::memcpy(&v, &u, 8);
        return v;
    }
    std::string_view str() {
        const uint64_t n = varint();
        if (n > remaining()) fail("string length exceeds the data");
        std::string_view s(p_, static_cast<std::size_t>(n));
        if (!valid_utf8(s)) fail("string is not valid UTF-8");
        p_ += n;
        return s;
    }
    const char* take(std::size_t n) {
        if (n > remaining()) fail("truncated data");
        const char* q = p_;
        p_ += n;
        return q;
    }
    void raw(void* dst, std::size_t n) { std::memcpy(dst, take(n), n); }
    std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
    void done() {
        if (p_ != end_) fail(std::to_string(remaining()) + " trailing bytes");
    }
    [[noreturn]] void fail(const std::string& why) {
        raise(PyExc_ValueError, std::string("corrupt ") + cls_ + " pickle state: " + why);
    }

    // Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF), as Python's decoder.
    static bool valid_utf8(std::string_view s) noexcept {
        const auto* p = reinterpret_cast<const unsigned char*>(s.data());
        const auto* e = p + s.size();
        while (p < e) {
            const unsigned c = *p;
            if (c < 0x80) {
                ++p;
                continue;
            }
            int len;
            unsigned lo = 0x80, hi = 0xBF;
            if (c >= 0xC2 && c <= 0xDF) {
                len = 2;
            } else if (c >= 0xE0 && c <= 0xEF) {
                len = 3;
                if (c == 0xE0) lo = 0xA0;
                if (c == 0xED) hi = 0x9F;
            } else if (c >= 0xF0 && c <= 0xF4) {
                len = 4;
                if (c == 0xF0) lo = 0x90;
                if (c == 0xF4) hi = 0x8F;
            } else {
                return false;
            }
            if (e - p < len) return false;
            if (p[1] < lo || p[1] > hi) return false;
            for (int k = 2; k < len; ++k) {
                if (p[k] < 0x80 || p[k] > 0xBF) return false;
            }
            p += len;
        }
        return true;
    }

private:
    const char* cls_;
    const char* p_ = nullptr;
    const char* end_ = nullptr;
};

}  // namespace mh
