// parseRemoteWrite(): the Prometheus remote_write decoder (remote_write.h) exposed to JS, one call
// per request body.
#pragma once

#include <napi.h>

#include "remote_write.h"

namespace sluice {

// Reads (body: Uint8Array, maxUncompressedBytes: number) from argument `first` on and decodes the
// body into this thread's reused batch. A bad body throws Error{code: SLUICE_PARSE, offset} (the
// message says whether the offset is in the snappy body or the uncompressed protobuf); a snappy
// preamble declaring more than maxUncompressedBytes throws Error{code: SLUICE_TOO_LARGE} before
// anything is allocated. Pass the batch to ReleaseParsedPoints when done.
ParsedPoints& ParseRemoteWriteArguments(const Napi::CallbackInfo& info, size_t first);

void RegisterRemoteWrite(Napi::Env env, Napi::Object exports);

}  // namespace sluice
