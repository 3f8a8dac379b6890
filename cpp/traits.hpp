// Compile-time facts about the std containers the extension binds: which are
// hashed (they have buckets), which map keys to values, which can reserve(),
// and the fewest bytes one of their elements takes.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

namespace mh {

template <class C, class = void>
struct is_hashed : std::false_type {};
template <class C>
struct is_hashed<C, std::void_t<decltype(std::declval<const C&>().bucket_count())>> : std::true_type {};

// vectors and the hashed containers; not std::map
template <class C, class = void>
struct has_reserve : std::false_type {};
template <class C>
struct has_reserve<C, std::void_t<decltype(std::declval<C&>().reserve(std::size_t()))>> : std::true_type {};

// The fewest bytes one element of container C takes: the element itself in a
// vector; in a hashed container (it has buckets) its node, a next pointer and
// the value (libstdc++ may add a cached hash), plus one bucket pointer at the
// default max_load_factor of 1. (Its reserve(n) allocates only the buckets, but
// promises room for n nodes: checking the buckets alone let reserve(10**9) by.)
template <class C>
constexpr std::size_t element_bytes() {
    return sizeof(typename C::value_type) + (is_hashed<C>::value ? 2 * sizeof(void*) : 0);
}

}  // namespace mh
