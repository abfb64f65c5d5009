// Prometheus remote_write 1.0 (docs/websocket.md#prometheus-remote_write): a snappy block
// (snappy_decoder.h) holding a protobuf
//
//   WriteRequest { repeated TimeSeries timeseries = 1; }          // 3 (metadata) and others skipped
//   TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }  // 3, 4 (exemplars,
//                                                                             // histograms) skipped
//   Label        { string name = 1; string value = 2; }
//   Sample       { double value = 1; int64 timestamp = 2; }         // timestamp in ms
//
// The label __name__ names the series, the other labels are its tags (a label with an empty value
// is no label, as in Prometheus); timestamps go from ms to µs; values are kept as they are (NaN
// and Prometheus' stale-marker NaN included). Unknown fields are skipped by their wire type. Every
// varint (10 bytes at most) and every length is bounded by the bytes of the enclosing message;
// the request is all or nothing. Keys are built only through BuildSeriesKey.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "parsed_points.h"

namespace sluice {

struct RemoteWriteError {
  // Byte offset of the bad element: in the compressed body for a snappy error, in the
  // uncompressed WriteRequest for a protobuf or mapping error (`in_snappy` says which).
  size_t offset = 0;
  bool in_snappy = false;
  bool too_large = false;  // the snappy preamble declared more than the maximum
  std::string message;
};

// Decodes an uncompressed WriteRequest into `out` (cleared first). False with `error` on any bad
// byte or unmappable series; `out` is then cleared.
bool ParseWriteRequest(const uint8_t* data, size_t length, ParsedPoints& out, RemoteWriteError& error);

// A remote_write body: snappy (at most `max_uncompressed` bytes once decompressed), then
// ParseWriteRequest.
bool ParseRemoteWrite(const uint8_t* body, size_t length, size_t max_uncompressed, ParsedPoints& out,
                      RemoteWriteError& error);

}  // namespace sluice
