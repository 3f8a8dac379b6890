// The element and container types of the extension: std types with counting
// allocators (counting_allocator.hpp), each the counterpart of a std:: type
// of the same layout (what footprint()'s "sizeof" reports).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "counting_allocator.hpp"

namespace mh {

template <class T>
using CA = CountingAllocator<T>;
template <class T>
using SA = ScopedCountingAllocator<T>;

// A std::string whose heap block (strings longer than the SSO capacity, 15
// chars in libstdc++) is counted. Same layout and sizeof as std::string.
using cstring = std::basic_string<char, std::char_traits<char>, SA<char>>;

// Same hash values as std::hash<std::string>. Deliberately not noexcept:
// libstdc++ then caches the hash code in each node exactly as it does for
// std::unordered_map<std::string, ...> (a noexcept hasher would make the
// nodes 8 bytes smaller than the std::string equivalent's).
struct CStringHash {
    std::size_t operator()(const cstring& s) const { return std::hash<std::string_view>{}(std::string_view(s.data(), s.size())); }
};

// Rows of FloatMatrix: same layout and sizeof as std::vector<double>.
using Row = std::vector<double, SA<double>>;

struct Record {
    int64_t id = 0;
    double x = 0.0;
    double y = 0.0;
    cstring name;
    bool operator==(const Record& o) const noexcept { return id == o.id && x == o.x && y == o.y && name == o.name; }
};

// The std:: type each counted container stands for (what sizeof reports).
struct StdRecord {
    int64_t id;
    double x, y;
    std::string name;
};

using IntVec = std::vector<int64_t, CA<int64_t>>;
using FloatVec = std::vector<double, CA<double>>;
using StrVec = std::vector<cstring, CA<cstring>>;
using RecordVec = std::vector<Record, CA<Record>>;
using Matrix = std::vector<Row, CA<Row>>;
using IntIntHash = std::unordered_map<int64_t, int64_t, std::hash<int64_t>, std::equal_to<int64_t>,
                                      CA<std::pair<const int64_t, int64_t>>>;
using IntIntTree = std::map<int64_t, int64_t, std::less<int64_t>, CA<std::pair<const int64_t, int64_t>>>;
using IntSet = std::unordered_set<int64_t, std::hash<int64_t>, std::equal_to<int64_t>, CA<int64_t>>;
using StrIntHash = std::unordered_map<cstring, int64_t, CStringHash, std::equal_to<cstring>,
                                      CA<std::pair<const cstring, int64_t>>>;

}  // namespace mh
