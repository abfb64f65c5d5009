#include "parsed_points_binding.h"

#include "typed_columns.h"

namespace sluice {

Napi::Object ParsedPointsObject(Napi::Env env, const ParsedPoints& parsed) {
  Napi::Array series_keys = Napi::Array::New(env, parsed.series_keys.size());
  for (size_t i = 0; i < parsed.series_keys.size(); ++i) {
    series_keys.Set(static_cast<uint32_t>(i), Napi::String::New(env, parsed.series_keys[i]));
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("seriesKeys", series_keys);
  result.Set("keyIndex", ToTypedArray<Napi::Uint32Array>(env, parsed.key_index));
  result.Set("timestamps", ToTypedArray<Napi::BigInt64Array>(env, parsed.timestamps_us));
  result.Set("values", ToTypedArray<Napi::Float64Array>(env, parsed.values));
  return result;
}

}  // namespace sluice
