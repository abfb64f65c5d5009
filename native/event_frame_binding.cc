#include "event_frame_binding.h"

#include <string>

#include "errors.h"
#include "parsed_points_binding.h"
#include "typed_columns.h"

namespace sluice {

ParsedPoints& ParseEventFrameArgument(const Napi::CallbackInfo& info, size_t index) {
  Napi::Env env = info.Env();
  Napi::TypedArray input = RequireTypedArray(info, index, napi_uint8_array, "a Uint8Array or Buffer");
  thread_local ParsedPoints parsed;
  FrameError error;
  if (!ParseEventFrame(input.As<Napi::Uint8Array>().Data(), input.ByteLength(), parsed, error)) {
    Napi::Error thrown = Napi::Error::New(
        env, "event " + std::to_string(error.event) + " at byte " + std::to_string(error.offset) + ": " + error.message);
    thrown.Set("code", Napi::String::New(env, kFrame));
    thrown.Set("offset", Napi::Number::New(env, static_cast<double>(error.offset)));
    thrown.Set("event", Napi::Number::New(env, static_cast<double>(error.event)));
    throw thrown;
  }
  return parsed;
}

namespace {

// parseEventFrame(input: Uint8Array): { seriesKeys, keyIndex, timestamps, values }
Napi::Value ParseEventFrameProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ParsedPoints& parsed = ParseEventFrameArgument(info, 0);
  Napi::Object result = ParsedPointsObject(env, parsed);
  ReleaseParsedPoints(parsed);
  return result;
}

}  // namespace

void RegisterEventFrame(Napi::Env env, Napi::Object exports) {
  exports.Set("parseEventFrame", Napi::Function::New(env, ParseEventFrameProbe, "parseEventFrame"));
}

}  // namespace sluice
