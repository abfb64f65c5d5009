#include "codec_probe.h"

#include <cstring>
#include <string>
#include <vector>

#include "block_codec.h"
#include "errors.h"
#include "window_writer.h"

namespace sluice {
namespace {

[[noreturn]] void ThrowCorrupt(Napi::Env env, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, kCorrupt));
  throw error;
}

// One copy into V8 memory: the encoded size is only known after encoding.
Napi::Uint8Array ToUint8Array(Napi::Env env, const std::vector<uint8_t>& bytes) {
  Napi::Uint8Array result = Napi::Uint8Array::New(env, bytes.size());
  if (!bytes.empty()) std::memcpy(result.Data(), bytes.data(), bytes.size());
  return result;
}

struct CodecName {
  const char* name;
  ValueCodec codec;
};
constexpr CodecName kCodecNames[] = {
    {"gorilla", ValueCodec::kGorilla},
    {"decimal", ValueCodec::kDecimal},
    {"decimal-entropy", ValueCodec::kDecimalEntropy},
    {"raw", ValueCodec::kRaw},
};

const char* NameOf(ValueCodec codec) {
  for (const CodecName& entry : kCodecNames) {
    if (entry.codec == codec) return entry.name;
  }
  return "unknown";
}

// codecEncodeTimestamps(ts: BigInt64Array): Uint8Array
Napi::Value CodecEncodeTimestamps(const Napi::CallbackInfo& info) {
  Napi::TypedArray array = RequireTypedArray(info, 0, napi_bigint64_array, "a BigInt64Array");
  if (array.ElementLength() > kMaxCodecPoints) {
    ThrowRangeError(info.Env(), kInvalidArgument, "at most " + std::to_string(kMaxCodecPoints) + " timestamps per block");
  }
  std::vector<uint8_t> bytes;
  EncodeTimestamps(array.As<Napi::BigInt64Array>().Data(), array.ElementLength(), bytes);
  return ToUint8Array(info.Env(), bytes);
}

// The optional output argument `index` (an array of `type` with room for `count` elements), or a
// new V8-allocated array. Reusing one array spares the allocation, which costs more than decoding.
template <typename Array>
Array OutputArray(const Napi::CallbackInfo& info, size_t index, napi_typedarray_type type, const char* what, size_t count) {
  if (info.Length() <= index || info[index].IsUndefined()) return Array::New(info.Env(), count);
  Napi::TypedArray into = RequireTypedArray(info, index, type, what);
  if (into.ElementLength() < count) {
    ThrowRangeError(info.Env(), kInvalidArgument,
                    "argument " + std::to_string(index) + " has room for " + std::to_string(into.ElementLength()) +
                        " elements, fewer than the count " + std::to_string(count));
  }
  return into.As<Array>();
}

// Decodes argument 0 (the block) into `count` (argument 1) elements of the optional output array
// (argument 2) or of a new one, straight in V8 memory; throws SLUICE_CORRUPT naming the column.
template <typename Array, typename Element>
Napi::Value DecodeColumn(const Napi::CallbackInfo& info, napi_typedarray_type type, const char* array_name,
                         bool (*decode)(const uint8_t*, size_t, size_t, Element*), const char* column) {
  Napi::TypedArray bytes = RequireTypedArray(info, 0, napi_uint8_array, "a Uint8Array or Buffer");
  const size_t count = RequireCount(info, 1, kMaxCodecPoints);
  Array result = OutputArray<Array>(info, 2, type, array_name, count);
  if (!decode(bytes.As<Napi::Uint8Array>().Data(), bytes.ByteLength(), count, result.Data())) {
    ThrowCorrupt(info.Env(),
                 std::string(column) + " block is malformed or shorter than " + std::to_string(count) + " points");
  }
  return result;
}

// codecDecodeTimestamps(bytes: Uint8Array, count: number, into?: BigInt64Array): BigInt64Array
Napi::Value CodecDecodeTimestamps(const Napi::CallbackInfo& info) {
  return DecodeColumn<Napi::BigInt64Array, int64_t>(info, napi_bigint64_array, "a BigInt64Array", DecodeTimestamps,
                                                    "timestamp");
}

// codecEncodeValues(values: Float64Array, codec?: 'auto'|'gorilla'|'decimal'|'decimal-entropy'|'raw'): { codec, bytes }
Napi::Value CodecEncodeValues(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::TypedArray array = RequireTypedArray(info, 0, napi_float64_array, "a Float64Array");
  const size_t n = array.ElementLength();
  if (n > kMaxCodecPoints) {
    ThrowRangeError(env, kInvalidArgument, "at most " + std::to_string(kMaxCodecPoints) + " values per block");
  }
  std::string requested = "auto";
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsString()) ThrowTypeError(env, kInvalidArgument, "argument 1 must be a codec name string");
    requested = info[1].As<Napi::String>().Utf8Value();
  }
  const double* values = array.As<Napi::Float64Array>().Data();
  std::vector<uint8_t> bytes;
  ValueCodec chosen;
  if (requested == "auto") {
    chosen = EncodeValues(values, n, bytes);
  } else {
    const CodecName* match = nullptr;
    for (const CodecName& entry : kCodecNames) {
      if (requested == entry.name) match = &entry;
    }
    if (match == nullptr) {
      ThrowTypeError(env, kInvalidArgument,
                     "argument 1 must be 'auto', 'gorilla', 'decimal', 'decimal-entropy' or 'raw', not '" + requested + "'");
    }
    if (!EncodeValuesWith(match->codec, values, n, bytes)) {
      ThrowRangeError(env, kInvalidArgument,
                      std::string("codec '") + match->name + "' cannot represent these values exactly");
    }
    chosen = match->codec;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("codec", Napi::String::New(env, NameOf(chosen)));
  result.Set("bytes", ToUint8Array(env, bytes));
  return result;
}

// codecDecodeValues(bytes: Uint8Array, count: number, into?: Float64Array): Float64Array
Napi::Value CodecDecodeValues(const Napi::CallbackInfo& info) {
  return DecodeColumn<Napi::Float64Array, double>(info, napi_float64_array, "a Float64Array", DecodeValues, "value");
}

// codecDecodeDecimalIntegers(bytes: Uint8Array, count: number, cumulative: boolean):
//   { exponent, integers: BigInt64Array } | null — the scaled integers of a decimal-coded value
// column (or their running totals), as window aggregates read them; null for other codecs.
Napi::Value CodecDecodeDecimalIntegers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::TypedArray bytes = RequireTypedArray(info, 0, napi_uint8_array, "a Uint8Array or Buffer");
  const size_t count = RequireCount(info, 1, kMaxCodecPoints);
  const bool cumulative = info.Length() > 2 && info[2].ToBoolean();
  Napi::BigInt64Array integers = Napi::BigInt64Array::New(env, count);
  unsigned exponent = 0;
  double magnitude_bound = 0;
  const uint8_t* data = bytes.As<Napi::Uint8Array>().Data();
  if (!DecodeValuesAsDecimal(data, bytes.ByteLength(), count, cumulative, integers.Data(), exponent, magnitude_bound)) {
    const bool decimal = bytes.ByteLength() > 0 && (data[0] == static_cast<uint8_t>(ValueCodec::kDecimal) ||
                                                    data[0] == static_cast<uint8_t>(ValueCodec::kDecimalEntropy));
    if (decimal) ThrowCorrupt(env, "value block is malformed or shorter than " + std::to_string(count) + " points");
    return env.Null();
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("exponent", Napi::Number::New(env, exponent));
  result.Set("integers", integers);
  result.Set("magnitudeBound", Napi::Number::New(env, magnitude_bound));
  return result;
}

// codecTimestampStride(bytes: Uint8Array, count: number): { first: bigint, step: bigint } | null
Napi::Value CodecTimestampStride(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::TypedArray bytes = RequireTypedArray(info, 0, napi_uint8_array, "a Uint8Array or Buffer");
  const size_t count = RequireCount(info, 1, kMaxCodecPoints);
  int64_t first, step;
  if (!TimestampStride(bytes.As<Napi::Uint8Array>().Data(), bytes.ByteLength(), count, first, step)) return env.Null();
  Napi::Object result = Napi::Object::New(env);
  result.Set("first", Napi::BigInt::New(env, first));
  result.Set("step", Napi::BigInt::New(env, step));
  return result;
}

int64_t RequireBigInt(const Napi::CallbackInfo& info, size_t index) {
  bool lossless = false;
  const int64_t value = info.Length() > index && info[index].IsBigInt()
                            ? info[index].As<Napi::BigInt>().Int64Value(&lossless)
                            : 0;
  if (!lossless) {
    ThrowTypeError(info.Env(), kInvalidArgument, "argument " + std::to_string(index) + " must be a bigint in int64 range");
  }
  return value;
}

// codecWriteOnePointWindows(integers: BigInt64Array, differences: boolean, firstBucket: bigint,
//   bucketStep: bigint, divisor: number, stores: 0 scalar | 1 AVX2 | 2 AVX-512,
//   starts: BigInt64Array, values: Float64Array): boolean
// The window writer (window_writer.h) into the caller's columns (their alignment is the test's to
// choose); window k reads integers[k], or integers[k + 1] - integers[k] with differences, so
// integers holds count (+ 1) elements. False when this CPU cannot run those stores.
Napi::Value CodecWriteOnePointWindows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::TypedArray integers = RequireTypedArray(info, 0, napi_bigint64_array, "a BigInt64Array");
  if (info.Length() <= 1 || !info[1].IsBoolean()) ThrowTypeError(env, kInvalidArgument, "argument 1 must be a boolean");
  const bool differences = info[1].As<Napi::Boolean>().Value();
  const int64_t first_bucket = RequireBigInt(info, 2);
  const int64_t bucket_step = RequireBigInt(info, 3);
  const double divisor = RequireNumber(info, 4);
  const auto stores = static_cast<WindowStores>(RequireCount(info, 5, 2));
  Napi::TypedArray starts = RequireTypedArray(info, 6, napi_bigint64_array, "a BigInt64Array");
  Napi::TypedArray values = RequireTypedArray(info, 7, napi_float64_array, "a Float64Array");
  const size_t count = starts.ElementLength();
  if (values.ElementLength() != count || integers.ElementLength() != count + (differences ? 1 : 0)) {
    ThrowRangeError(env, kInvalidArgument, "starts and values must have the same length n, integers n (+ 1 with differences)");
  }
  if (!CanUseWindowStores(stores)) return Napi::Boolean::New(env, false);
  const int64_t* first_integer = integers.As<Napi::BigInt64Array>().Data() + (differences ? 1 : 0);
  WriteOnePointWindowsWith(stores, first_integer, differences, count, static_cast<uint64_t>(first_bucket),
                           static_cast<uint64_t>(bucket_step), divisor, starts.As<Napi::BigInt64Array>().Data(),
                           values.As<Napi::Float64Array>().Data());
  return Napi::Boolean::New(env, true);
}

}  // namespace

void RegisterCodecProbe(Napi::Env env, Napi::Object exports) {
  exports.Set("codecWriteOnePointWindows", Napi::Function::New(env, CodecWriteOnePointWindows, "codecWriteOnePointWindows"));
  exports.Set("codecEncodeTimestamps", Napi::Function::New(env, CodecEncodeTimestamps, "codecEncodeTimestamps"));
  exports.Set("codecDecodeTimestamps", Napi::Function::New(env, CodecDecodeTimestamps, "codecDecodeTimestamps"));
  exports.Set("codecEncodeValues", Napi::Function::New(env, CodecEncodeValues, "codecEncodeValues"));
  exports.Set("codecDecodeValues", Napi::Function::New(env, CodecDecodeValues, "codecDecodeValues"));
  exports.Set("codecDecodeDecimalIntegers",
              Napi::Function::New(env, CodecDecodeDecimalIntegers, "codecDecodeDecimalIntegers"));
  exports.Set("codecTimestampStride", Napi::Function::New(env, CodecTimestampStride, "codecTimestampStride"));
}

}  // namespace sluice
