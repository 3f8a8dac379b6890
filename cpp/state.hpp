// The binary pickle state of the containers (format below): a writer that
// fills a bytes object of a size computed first, and a reader that validates
// everything it reads (ValueError "corrupt ... pickle state").
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "errors.hpp"

namespace mh {

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
    // One 8-byte value (int64_t or double), little-endian.
    template <class T>
    void word(T v) {
        static_assert(sizeof(T) == 8, "state words are 8 bytes");
        uint64_t u;
        std::memcpy(&u, &v, 8);
        u = bswap_if_big(u);
        raw(&u, 8);
    }
    void i64(int64_t v) { word(v); }
    void f64(double v) { word(v); }
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
    template <class T>
    T word() {
        static_assert(sizeof(T) == 8, "state words are 8 bytes");
        uint64_t u;
        raw(&u, 8);
        u = bswap_if_big(u);
        T v;
        std::memcpy(&v, &u, 8);
        return v;
    }
    int64_t i64() { return word<int64_t>(); }
    double f64() { return word<double>(); }
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
