// Columns (std::vector) handed to JS as new V8-allocated typed arrays, written once by a memcpy:
// the fastest way out measured in bench/boundary.bench.js.
#pragma once

#include <napi.h>

#include <cstring>
#include <vector>

namespace sluice {

template <typename TypedArray, typename T>
TypedArray ToTypedArray(Napi::Env env, const std::vector<T>& column) {
  TypedArray array = TypedArray::New(env, column.size());
  if (!column.empty()) std::memcpy(array.Data(), column.data(), column.size() * sizeof(T));
  return array;
}

}  // namespace sluice
