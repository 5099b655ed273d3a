#include "revision.hpp"

#include "moesim_revision.hpp" // generated (sim/app/revision.cmake)

namespace moesim::cli {

const char* source_revision() { return MOESIM_REVISION; }

} // namespace moesim::cli
