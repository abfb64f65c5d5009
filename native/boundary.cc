#include "boundary.h"

#include <cstring>
#include <memory>

#include "errors.h"

namespace sluice {
namespace {

// noop(): the bare price of crossing into native code and back.
// TS: noop(): undefined
Napi::Value Noop(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }

// sumFloat64(values: Float64Array): number — reads the array in place (zero-copy in).
Napi::Value SumFloat64(const Napi::CallbackInfo& info) {
  Napi::TypedArray array = RequireTypedArray(info, 0, napi_float64_array, "a Float64Array");
  const double* data = array.As<Napi::Float64Array>().Data();
  const size_t length = array.ElementLength();
  // Four accumulators let the compiler keep several adds in flight.
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= length; i += 4) {
    s0 += data[i];
    s1 += data[i + 1];
    s2 += data[i + 2];
    s3 += data[i + 3];
  }
  for (; i < length; ++i) s0 += data[i];
  return Napi::Number::New(info.Env(), (s0 + s1) + (s2 + s3));
}

// sumBytes(bytes: Uint8Array): number — the same over raw bytes (a network buffer).
Napi::Value SumBytes(const Napi::CallbackInfo& info) {
  Napi::TypedArray array = RequireTypedArray(info, 0, napi_uint8_array, "a Uint8Array or Buffer");
  const uint8_t* data = array.As<Napi::Uint8Array>().Data();
  const size_t length = array.ByteLength();
  uint64_t sum = 0;
  for (size_t i = 0; i < length; ++i) sum += data[i];
  return Napi::Number::New(info.Env(), static_cast<double>(sum));
}

void FillSequence(double* out, size_t count, double start, double step) {
  for (size_t i = 0; i < count; ++i) out[i] = start + step * static_cast<double>(i);
}

// fillSequence(count, start, step): Float64Array — memory allocated by V8, written once by native.
Napi::Value FillSequenceInHeap(const Napi::CallbackInfo& info) {
  const size_t count = RequireCount(info, 0, kMaxProbeElements);
  const double start = RequireNumber(info, 1);
  const double step = RequireNumber(info, 2);
  Napi::Float64Array result = Napi::Float64Array::New(info.Env(), count);
  FillSequence(result.Data(), count, start, step);
  return result;
}

// fillSequenceExternal(count, start, step): Float64Array — memory owned by native and handed to JS
// with a finalizer; copied instead where the runtime forbids external buffers.
Napi::Value FillSequenceExternal(const Napi::CallbackInfo& info) {
  const size_t count = RequireCount(info, 0, kMaxProbeElements);
  const double start = RequireNumber(info, 1);
  const double step = RequireNumber(info, 2);
  Napi::Env env = info.Env();
  if (count == 0) return Napi::Float64Array::New(env, 0);
  std::unique_ptr<double[]> storage(new double[count]);
  FillSequence(storage.get(), count, start, step);
  Napi::Buffer<uint8_t> bytes = Napi::Buffer<uint8_t>::NewOrCopy(
      env, reinterpret_cast<uint8_t*>(storage.get()), count * sizeof(double),
      [](Napi::Env, uint8_t* data) { delete[] reinterpret_cast<double*>(data); });
  // NewOrCopy either adopted the memory (the finalizer frees it) or copied it (we free it here).
  if (reinterpret_cast<uint8_t*>(storage.get()) == bytes.Data()) {
    storage.release();
  }
  return Napi::Float64Array::New(env, count, bytes.ArrayBuffer(), bytes.ByteOffset());
}

}  // namespace

void RegisterBoundary(Napi::Env env, Napi::Object exports) {
  exports.Set("noop", Napi::Function::New(env, Noop, "noop"));
  exports.Set("sumFloat64", Napi::Function::New(env, SumFloat64, "sumFloat64"));
  exports.Set("sumBytes", Napi::Function::New(env, SumBytes, "sumBytes"));
  exports.Set("fillSequence", Napi::Function::New(env, FillSequenceInHeap, "fillSequence"));
  exports.Set("fillSequenceExternal", Napi::Function::New(env, FillSequenceExternal, "fillSequenceExternal"));
}

}  // namespace sluice
