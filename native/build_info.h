// What this binary is: Node-API level, the hash of the sources it was built from, the target.
// The loader and the prebuild checks use it to refuse a build made from older sources.
#pragma once

#include <napi.h>

namespace sluice {

void RegisterBuildInfo(Napi::Env env, Napi::Object exports);

}  // namespace sluice
