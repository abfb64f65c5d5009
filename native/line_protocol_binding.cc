#include "line_protocol_binding.h"

#include <cstring>
#include <string>

#include "errors.h"
#include "parsed_points_binding.h"
#include "line_protocol.h"
#include "typed_columns.h"

namespace sluice {
namespace {

Precision RequirePrecision(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || !info[index].IsString()) {
    ThrowTypeError(info.Env(), kInvalidArgument, "argument " + std::to_string(index) + " must be a string");
  }
  const std::string name = info[index].As<Napi::String>().Utf8Value();
  if (name == "ns") return Precision::kNanoseconds;
  if (name == "us") return Precision::kMicroseconds;
  if (name == "ms") return Precision::kMilliseconds;
  if (name == "s") return Precision::kSeconds;
  ThrowRangeError(info.Env(), kInvalidArgument,
                  "argument " + std::to_string(index) + " must be one of 'ns', 'us', 'ms', 's'");
}

int64_t RequireBigInt64(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || !info[index].IsBigInt()) {
    ThrowTypeError(info.Env(), kInvalidArgument, "argument " + std::to_string(index) + " must be a bigint");
  }
  bool lossless = false;
  const int64_t value = info[index].As<Napi::BigInt>().Int64Value(&lossless);
  if (!lossless) {
    ThrowRangeError(info.Env(), kInvalidArgument,
                    "argument " + std::to_string(index) + " must fit a signed 64-bit integer");
  }
  return value;
}



}  // namespace

ParsedPoints& ParseLineArguments(const Napi::CallbackInfo& info, size_t first) {
  Napi::Env env = info.Env();
  Napi::TypedArray input = RequireTypedArray(info, first, napi_uint8_array, "a Uint8Array or Buffer");
  const Precision precision = RequirePrecision(info, first + 1);
  const int64_t default_timestamp_us = RequireBigInt64(info, first + 2);

  // Reused across calls: fresh multi-megabyte columns each call cost page faults on every batch.
  // Per thread, since worker threads may load the addon too.
  thread_local ParsedPoints parsed;
  LineError error;
  const char* data = reinterpret_cast<const char*>(input.As<Napi::Uint8Array>().Data());
  if (!ParseLineProtocol(data, input.ByteLength(), precision, default_timestamp_us, parsed, error)) {
    Napi::Error thrown = Napi::Error::New(
        env, "line " + std::to_string(error.line) + ", column " + std::to_string(error.column) + ": " + error.message);
    thrown.Set("code", Napi::String::New(env, kParse));
    thrown.Set("line", Napi::Number::New(env, static_cast<double>(error.line)));
    thrown.Set("column", Napi::Number::New(env, static_cast<double>(error.column)));
    throw thrown;
  }
  return parsed;
}

namespace {

// parseLineProtocol(input: Uint8Array, precision: 'ns'|'us'|'ms'|'s', defaultTimestampUs: bigint)
//   : { seriesKeys, keyIndex, timestamps, values, skippedStringFields }
Napi::Value ParseLineProtocolProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ParsedPoints& parsed = ParseLineArguments(info, 0);
  Napi::Object result = ParsedPointsObject(env, parsed);
  result.Set("skippedStringFields", Napi::Number::New(env, static_cast<double>(parsed.skipped_string_fields)));
  ReleaseParsedPoints(parsed);
  return result;
}

}  // namespace

void RegisterLineProtocol(Napi::Env env, Napi::Object exports) {
  exports.Set("parseLineProtocol", Napi::Function::New(env, ParseLineProtocolProbe, "parseLineProtocol"));
}

}  // namespace sluice
