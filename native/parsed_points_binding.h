// A parsed network batch (parsed_points.h) as the JS object the parser probes return:
// { seriesKeys: string[], keyIndex: Uint32Array, timestamps: BigInt64Array, values: Float64Array }.
#pragma once

#include <napi.h>

#include "parsed_points.h"

namespace sluice {

Napi::Object ParsedPointsObject(Napi::Env env, const ParsedPoints& parsed);

}  // namespace sluice
