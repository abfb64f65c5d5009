// parseEventFrame(): the WebSocket event parser (event_frame.h) exposed to JS, one call per message.
#pragma once

#include <napi.h>

#include "event_frame.h"

namespace sluice {

// Parses argument `index` (a Uint8Array or Buffer) into this thread's reused batch. A bad message
// throws Error{code: SLUICE_FRAME, offset, event}. Pass the batch to ReleaseParsedPoints when done.
ParsedPoints& ParseEventFrameArgument(const Napi::CallbackInfo& info, size_t index);

void RegisterEventFrame(Napi::Env env, Napi::Object exports);

}  // namespace sluice
