// parseLineProtocol(): the line protocol parser (line_protocol.h) exposed to JS as one call per
// buffer, returning the columnar batch in V8-allocated typed arrays.
#pragma once

#include <napi.h>

namespace sluice {

void RegisterLineProtocol(Napi::Env env, Napi::Object exports);

}  // namespace sluice
