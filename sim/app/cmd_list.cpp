#include "commands.hpp"
#include "core/cluster/cluster.hpp"
#include "core/comm/a2a_kernel.hpp"
#include "core/model/model_spec.hpp"
#include "core/policy/policy.hpp"

#include <iostream>

namespace moesim::cli {

void add_list(CLI::App& app, Action& action)
{
  auto* cmd = app.add_subcommand("list", "List the registered placement and grouping policies, all-to-all kernel models, GPU presets and supported models");
  cmd->callback([&action] {
    action = [] {
      std::cout << "placement policies:\n";
      for (const auto& [name, e] : PlacementRegistry::instance().entries())
        std::cout << "  " << name << "  " << e.description << "\n";
      std::cout << "grouping policies:\n";
      for (const auto& [name, e] : GroupingRegistry::instance().entries())
        std::cout << "  " << name << "  " << e.description << "\n";
      std::cout << "all-to-all kernel models (--a2a-kernel):\n";
      for (const auto& [name, e] : A2aKernelRegistry::instance().entries()) {
        std::cout << "  " << name << "  " << e.description << "\n    parameters:";
        for (const auto& p : e.fn()->params())
          std::cout << " " << p.name;
        std::cout << "\n";
      }
      std::cout << "GPU presets (moesim platform --gpu):\n";
      for (const auto& p : gpu_presets())
        std::cout << "  " << p.name << "  " << p.source << "\n";
      std::cout << "model types (Hugging Face config.json):\n ";
      for (const auto& t : supported_model_types())
        std::cout << " " << t;
      std::cout << "\n";
      return 0;
    };
  });
}

} // namespace moesim::cli
