#include "core/io/errors.hpp"

namespace moesim {

std::string format_location(const std::string& file, const std::string& place, const std::string& message)
{
  std::string out;
  if (!file.empty())
    out += file + ": ";
  if (!place.empty())
    out += place + ": ";
  return out + message;
}

InputError::InputError(std::string file, std::string place, const std::string& message)
    : std::runtime_error(format_location(file, place, message)), file_(std::move(file)), place_(std::move(place))
{
}

} // namespace moesim
