#include "build_info.h"

#ifndef SLUICE_NATIVE_SOURCE_HASH
#error "binding.gyp defines SLUICE_NATIVE_SOURCE_HASH"
#endif

namespace sluice {
namespace {

// A marker kept in the stripped binary's read-only data, so scripts/check-prebuilds.js can tell
// which sources a prebuild came from without loading it (the arm64 one cannot load on x64).
extern "C" {
__attribute__((used)) const char kSourceMarker[] = "sluice-native-source:" SLUICE_NATIVE_SOURCE_HASH;
}

const char* TargetArch() {
#if defined(__x86_64__)
  return "x64";
#elif defined(__aarch64__)
  return "arm64";
#else
  return "other";
#endif
}

// buildInfo(): { napiVersion, sourceHash, arch, compiler }
Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  result.Set("sourceHash", Napi::String::New(env, SLUICE_NATIVE_SOURCE_HASH));
  result.Set("arch", Napi::String::New(env, TargetArch()));
#if defined(__clang__)
  result.Set("compiler", Napi::String::New(env, "clang " __clang_version__));
#elif defined(__GNUC__)
  result.Set("compiler", Napi::String::New(env, "gcc " __VERSION__));
#else
  result.Set("compiler", Napi::String::New(env, "unknown"));
#endif
  return result;
}

}  // namespace

void RegisterBuildInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo, "buildInfo"));
}

}  // namespace sluice
