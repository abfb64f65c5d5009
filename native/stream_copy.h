// Copies into large results past the cache: a result of megabytes is not read again before it
// reaches JavaScript, and an ordinary store first reads each line it writes. Whole 64-byte lines
// are written with non-temporal stores (SSE2, which every x86-64 has); elsewhere a plain copy.
#pragma once

#include <cstddef>

namespace sluice {

// memcpy(destination, source, bytes) for regions that do not overlap; the streamed stores are
// fenced before it returns, so another thread that synchronises with this one afterwards sees them.
void StreamCopy(void* destination, const void* source, size_t bytes);

}  // namespace sluice
