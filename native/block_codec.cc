#include "block_codec.h"

#include <bit>

#include "bit_io.h"
#include "decimal_codec.h"
#include "gorilla_codec.h"

namespace sluice {
namespace {

void AppendWithId(ValueCodec codec, const std::vector<uint8_t>& body, std::vector<uint8_t>& out) {
  out.push_back(static_cast<uint8_t>(codec));
  out.insert(out.end(), body.begin(), body.end());
}

void EncodeRaw(const double* values, size_t n, std::vector<uint8_t>& out) {
  out.reserve(out.size() + 8 * n);
  for (size_t i = 0; i < n; ++i) AppendLE64(out, std::bit_cast<uint64_t>(values[i]));
}

bool DecodeRaw(const uint8_t* data, size_t length, size_t n, double* out) {
  if (length / 8 < n) return false;
  for (size_t i = 0; i < n; ++i) out[i] = std::bit_cast<double>(LoadLE64(data + 8 * i));
  return true;
}

}  // namespace

ValueCodec EncodeValues(const double* values, size_t n, std::vector<uint8_t>& out) {
  // Each candidate is encoded in full and measured: sizes are cheap to compute exactly and the
  // encoder runs once per block, the decoder many times.
  ValueCodec best = ValueCodec::kGorilla;
  std::vector<uint8_t> best_body;
  EncodeGorilla(values, n, best_body);
  DecimalColumn column;
  if (FindDecimalColumn(values, n, column)) {
    std::vector<uint8_t> candidate;
    EncodeDecimal(column, candidate);
    // Ties go to the simpler codec: the earlier one here decodes faster.
    if (candidate.size() < best_body.size()) {
      best = ValueCodec::kDecimal;
      best_body.swap(candidate);
    }
    candidate.clear();
    if (EncodeDecimalEntropy(column, candidate) && candidate.size() < best_body.size()) {
      best = ValueCodec::kDecimalEntropy;
      best_body.swap(candidate);
    }
  }
  // Gorilla outgrows 8 bytes per value on incompressible bits; the raw form caps the worst case.
  if (best_body.size() > 8 * n) {
    best = ValueCodec::kRaw;
    best_body.clear();
    EncodeRaw(values, n, best_body);
  }
  AppendWithId(best, best_body, out);
  return best;
}

bool EncodeValuesWith(ValueCodec codec, const double* values, size_t n, std::vector<uint8_t>& out) {
  std::vector<uint8_t> body;
  if (codec == ValueCodec::kGorilla) {
    EncodeGorilla(values, n, body);
  } else if (codec == ValueCodec::kRaw) {
    EncodeRaw(values, n, body);
  } else if (codec == ValueCodec::kDecimal || codec == ValueCodec::kDecimalEntropy) {
    DecimalColumn column;
    if (!FindDecimalColumn(values, n, column)) return false;
    if (codec == ValueCodec::kDecimal) {
      EncodeDecimal(column, body);
    } else if (!EncodeDecimalEntropy(column, body)) {
      return false;
    }
  } else {
    return false;
  }
  AppendWithId(codec, body, out);
  return true;
}

bool DecodeValues(const uint8_t* data, size_t length, size_t n, double* out) {
  if (length == 0) return false;
  const uint8_t* body = data + 1;
  const size_t body_length = length - 1;
  switch (static_cast<ValueCodec>(data[0])) {
    case ValueCodec::kGorilla:
      return DecodeGorilla(body, body_length, n, out);
    case ValueCodec::kDecimal:
      return DecodeDecimal(body, body_length, n, out);
    case ValueCodec::kDecimalEntropy:
      return DecodeDecimalEntropy(body, body_length, n, out);
    case ValueCodec::kRaw:
      return DecodeRaw(body, body_length, n, out);
  }
  return false;
}

bool DecodeValuesAsDecimal(const uint8_t* data, size_t length, size_t n, bool cumulative, int64_t* out,
                           unsigned& exponent, double& magnitude_bound) {
  if (length == 0) return false;
  const auto codec = static_cast<ValueCodec>(data[0]);
  if (codec != ValueCodec::kDecimal && codec != ValueCodec::kDecimalEntropy) return false;
  return DecodeDecimalIntegers(data + 1, length - 1, n, codec == ValueCodec::kDecimalEntropy, cumulative, out,
                               exponent, magnitude_bound);
}

}  // namespace sluice
