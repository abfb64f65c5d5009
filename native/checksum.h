// CRC-32C (Castagnoli), the checksum of WAL records, segment blocks and indexes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice {

// CRC-32C of `length` bytes; pass a previous result as `crc` to continue over more bytes.
uint32_t Crc32c(const void* data, size_t length, uint32_t crc = 0);

}  // namespace sluice
