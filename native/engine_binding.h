// The storage engine's JavaScript entry points (see bindings/index.ts for their TS signatures).
#pragma once

#include <napi.h>

namespace sluice {

void RegisterEngine(Napi::Env env, Napi::Object exports);

}  // namespace sluice
