// The Slung WebSocket binary event (docs/websocket.md), little-endian:
//
//   [timestamp i64 µs][value f64][series_len u16][tag_count u16][series][tag_count × (len u16, "key=value")]
//
// A message holds one event (as the seed sends it) or several back to back (a batch). Bytes left
// over that do not make a whole event are an error, and so is any bad event: the message is all
// or nothing. Keys are built only through BuildSeriesKey.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "parsed_points.h"

namespace sluice {

inline constexpr size_t kEventHeaderBytes = 20;

struct FrameError {
  size_t offset = 0;  // byte offset in the message where the bad event starts
  size_t event = 0;   // 0-based index of that event
  std::string message;
};

// Parses a whole message into `out` (cleared first). False with `error` on any bad byte; `out` is
// then cleared.
bool ParseEventFrame(const uint8_t* data, size_t length, ParsedPoints& out, FrameError& error);

}  // namespace sluice
