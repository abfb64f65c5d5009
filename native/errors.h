// The addon's one exception policy.
//
// Entry points throw Napi::Error (C++ exceptions are on; NODE_ADDON_API_CPP_EXCEPTIONS_ALL turns a
// stray std::exception into a JS Error too, so nothing escapes as a crash). Every error we raise on
// purpose carries a `code` users can branch on; the message says what was wrong and what is accepted.
// TypeScript validates first; these checks are the second line for callers that bypass it.
#pragma once

#include <napi.h>

#include <string>

namespace sluice {

inline constexpr const char* kInvalidArgument = "SLUICE_INVALID_ARGUMENT";
// Encoded input (a block, a record) that does not decode: damaged on disk or not ours.
inline constexpr const char* kCorrupt = "SLUICE_CORRUPT";
// Text input (line protocol, a query) that does not parse; errors say where.
inline constexpr const char* kParse = "SLUICE_PARSE";
inline constexpr const char* kFrame = "SLUICE_FRAME";
// Input that declares more than the caller allows (a remote_write snappy preamble over the limit).
inline constexpr const char* kTooLarge = "SLUICE_TOO_LARGE";

[[noreturn]] inline void ThrowTypeError(Napi::Env env, const char* code, const std::string& message) {
  Napi::TypeError error = Napi::TypeError::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  throw error;
}

[[noreturn]] inline void ThrowRangeError(Napi::Env env, const char* code, const std::string& message) {
  Napi::RangeError error = Napi::RangeError::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  throw error;
}

// Reads argument `index` as a typed array of `expected` element type, or throws naming the argument.
inline Napi::TypedArray RequireTypedArray(const Napi::CallbackInfo& info, size_t index, napi_typedarray_type expected,
                                          const char* what) {
  if (info.Length() <= index || !info[index].IsTypedArray() ||
      info[index].As<Napi::TypedArray>().TypedArrayType() != expected) {
    ThrowTypeError(info.Env(), kInvalidArgument, std::string("argument ") + std::to_string(index) + " must be " + what);
  }
  return info[index].As<Napi::TypedArray>();
}

// Reads argument `index` as an integer count in [0, max], or throws naming the argument and the bound.
inline size_t RequireCount(const Napi::CallbackInfo& info, size_t index, size_t max) {
  if (info.Length() <= index || !info[index].IsNumber()) {
    ThrowTypeError(info.Env(), kInvalidArgument, "argument " + std::to_string(index) + " must be a number");
  }
  const double value = info[index].As<Napi::Number>().DoubleValue();
  if (!(value >= 0) || value > static_cast<double>(max) || value != static_cast<double>(static_cast<size_t>(value))) {
    ThrowRangeError(info.Env(), kInvalidArgument,
                    "argument " + std::to_string(index) + " must be an integer in [0, " + std::to_string(max) + "]");
  }
  return static_cast<size_t>(value);
}

inline double RequireNumber(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || !info[index].IsNumber()) {
    ThrowTypeError(info.Env(), kInvalidArgument, "argument " + std::to_string(index) + " must be a number");
  }
  return info[index].As<Napi::Number>().DoubleValue();
}

}  // namespace sluice
