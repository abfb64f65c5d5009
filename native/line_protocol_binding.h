// parseLineProtocol(): the line protocol parser (line_protocol.h) exposed to JS as one call per
// buffer, returning the columnar batch in V8-allocated typed arrays.
#pragma once

#include <napi.h>

#include "line_protocol.h"

namespace sluice {

// Reads (input: Uint8Array, precision, defaultTimestampUs: bigint) from argument `first` on and
// parses the input in place into this thread's reused batch. A parse error throws
// Error{code: SLUICE_PARSE, line, column}. Pass the batch to ReleaseParsedPoints when done.
ParsedPoints& ParseLineArguments(const Napi::CallbackInfo& info, size_t first);

void RegisterLineProtocol(Napi::Env env, Napi::Object exports);

}  // namespace sluice
