#include "remote_write_binding.h"

#include <string>
#include <vector>

#include "errors.h"
#include "parsed_points_binding.h"
#include "snappy_decoder.h"
#include "typed_columns.h"

namespace sluice {

namespace {

// Snappy's preamble is 32 bits; the server passes its body limit (at most 2^31).
constexpr size_t kMaxUncompressedLimit = size_t{1} << 32;

}  // namespace

ParsedPoints& ParseRemoteWriteArguments(const Napi::CallbackInfo& info, size_t first) {
  Napi::Env env = info.Env();
  Napi::TypedArray input = RequireTypedArray(info, first, napi_uint8_array, "a Uint8Array or Buffer");
  const size_t max_uncompressed = RequireCount(info, first + 1, kMaxUncompressedLimit);
  thread_local ParsedPoints parsed;
  RemoteWriteError error;
  if (!ParseRemoteWrite(input.As<Napi::Uint8Array>().Data(), input.ByteLength(), max_uncompressed, parsed, error)) {
    const std::string where = error.in_snappy ? "snappy body at byte " + std::to_string(error.offset)
                                              : "WriteRequest at byte " + std::to_string(error.offset) + " (uncompressed)";
    Napi::Error thrown = Napi::Error::New(env, "remote_write: " + where + ": " + error.message);
    thrown.Set("code", Napi::String::New(env, error.too_large ? kTooLarge : kParse));
    thrown.Set("offset", Napi::Number::New(env, static_cast<double>(error.offset)));
    throw thrown;
  }
  return parsed;
}

namespace {

// parseRemoteWrite(body: Uint8Array, maxUncompressedBytes: number): { seriesKeys, keyIndex, timestamps, values }
Napi::Value ParseRemoteWriteProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ParsedPoints& parsed = ParseRemoteWriteArguments(info, 0);
  Napi::Object result = ParsedPointsObject(env, parsed);
  ReleaseParsedPoints(parsed);
  return result;
}

// snappyDecompress(input: Uint8Array, maxUncompressedBytes: number): Uint8Array — the snappy block
// decoder alone; SLUICE_PARSE with `offset`, SLUICE_TOO_LARGE past the maximum.
Napi::Value SnappyDecompressProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::TypedArray input = RequireTypedArray(info, 0, napi_uint8_array, "a Uint8Array or Buffer");
  const size_t max_uncompressed = RequireCount(info, 1, kMaxUncompressedLimit);
  std::vector<uint8_t> out;
  SnappyError error;
  if (!SnappyDecompress(input.As<Napi::Uint8Array>().Data(), input.ByteLength(), max_uncompressed, out, error)) {
    Napi::Error thrown = Napi::Error::New(env, "snappy body at byte " + std::to_string(error.offset) + ": " + error.message);
    thrown.Set("code", Napi::String::New(env, error.too_large ? kTooLarge : kParse));
    thrown.Set("offset", Napi::Number::New(env, static_cast<double>(error.offset)));
    throw thrown;
  }
  return ToTypedArray<Napi::Uint8Array>(env, out);
}

}  // namespace

void RegisterRemoteWrite(Napi::Env env, Napi::Object exports) {
  exports.Set("parseRemoteWrite", Napi::Function::New(env, ParseRemoteWriteProbe, "parseRemoteWrite"));
  exports.Set("snappyDecompress", Napi::Function::New(env, SnappyDecompressProbe, "snappyDecompress"));
}

}  // namespace sluice
