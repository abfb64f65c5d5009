// Registers each native feature; the features live in their own .cc/.h pairs.
#include <napi.h>

#include "boundary.h"
#include "build_info.h"
#include "codec_probe.h"
#include "engine_binding.h"
#include "event_frame_binding.h"
#include "line_protocol_binding.h"
#include "remote_write_binding.h"
#include "thread_scheduling.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  sluice::RegisterBuildInfo(env, exports);
  sluice::RegisterBoundary(env, exports);
  sluice::RegisterEngine(env, exports);
  sluice::RegisterCodecProbe(env, exports);
  sluice::RegisterLineProtocol(env, exports);
  sluice::RegisterEventFrame(env, exports);
  sluice::RegisterRemoteWrite(env, exports);
  sluice::RegisterThreadScheduling(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(sluice, Init)
