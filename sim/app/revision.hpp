#pragma once
// The source revision the binary was built from.

namespace moesim::cli {

/// `git describe --always --dirty --tags` of the source tree at build time, or "unknown" (no git checkout).
const char* source_revision();

} // namespace moesim::cli
