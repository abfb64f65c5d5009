// Columns (std::vector) handed to JS as new V8-allocated typed arrays, written once by a memcpy:
// the fastest way out measured in bench/boundary.bench.js.
#pragma once

#include <napi.h>

#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

namespace sluice {

template <typename TypedArray, typename T>
TypedArray ToTypedArray(Napi::Env env, const std::vector<T>& column) {
  TypedArray array = TypedArray::New(env, column.size());
  if (!column.empty()) std::memcpy(array.Data(), column.data(), column.size() * sizeof(T));
  return array;
}

// A typed array of `length` elements whose memory is not zeroed first, for output that is written
// in full: Node allocates a Buffer's memory uninitialised (typed arrays' is zero-filled, a memset
// as costly as the writing for large results). It views a Buffer's whole ArrayBuffer.
template <typename TypedArray>
TypedArray UninitializedTypedArray(Napi::Env env, size_t length) {
  using Element = std::remove_pointer_t<decltype(std::declval<TypedArray>().Data())>;
  const Napi::Buffer<uint8_t> memory = Napi::Buffer<uint8_t>::New(env, length * sizeof(Element));
  return TypedArray::New(env, length, memory.ArrayBuffer(), memory.ByteOffset());
}

// Elements [first, first + count) of `array`: the array itself when that is all of it; a view of
// its buffer when little of it is unused (copying a large result would cost more than the spare
// bytes); else a copy, so a loose bound does not keep a mostly empty buffer alive.
template <typename TypedArray>
TypedArray FitTypedArray(Napi::Env env, const TypedArray& array, size_t first, size_t count) {
  const size_t capacity = array.ElementLength();
  if (first == 0 && count == capacity) return array;
  if (count >= capacity - capacity / 8) {
    return TypedArray::New(env, count, array.ArrayBuffer(), array.ByteOffset() + first * array.ElementSize());
  }
  TypedArray fitted = TypedArray::New(env, count);
  if (count > 0) std::memcpy(fitted.Data(), array.Data() + first, count * array.ElementSize());
  return fitted;
}

}  // namespace sluice
