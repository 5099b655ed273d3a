#include "commands.hpp"
#include "core/errors.hpp"
#include "core/model_spec.hpp"
#include "core/trace.hpp"
#include "core/trace_import.hpp"

#include <spdlog/spdlog.h>

#include <iostream>

namespace moesim::cli {

void add_trace(CLI::App& app, Action& action)
{
  auto* cmd = app.add_subcommand("trace", "Import routing traces into moesim's HDF5 schema and inspect them");
  cmd->require_subcommand(1);

  struct ImportOpts {
    std::string format;
    std::string model;
    std::string out;
    std::vector<std::string> inputs;
  };
  auto io = std::make_shared<ImportOpts>();
  auto* imp = cmd->add_subcommand("import", "Convert ESFT text traces or gpt-oss fingerprinting JSON to HDF5");
  imp->add_option("--format", io->format, "esft (a directory of <domain>/expert_weights_<layer>.txt.gz) or "
                                          "gptoss-json (one or more JSON files)")
      ->required()
      ->check(CLI::IsMember({"esft", "gptoss-json"}));
  imp->add_option("--model", io->model, "the model's Hugging Face config.json")->required();
  imp->add_option("-o,--out", io->out, "output HDF5 trace")->required();
  imp->add_option("inputs", io->inputs, "input directory (esft) or files (gptoss-json)")->required();
  imp->callback([&action, io] {
    action = [io] {
      const ModelSpec model = load_model_spec(io->model);
      Trace t;
      if (io->format == "esft") {
        if (io->inputs.size() != 1)
          throw UsageError("--format esft takes exactly one directory");
        t = import_esft(io->inputs[0], model);
      } else {
        t = import_gptoss_json(io->inputs, model);
      }
      write_trace(t, io->out);
      spdlog::info("wrote {}: {} requests, {} tokens, {} MoE layers x top-{}", io->out, t.requests.size(),
                   t.num_tokens(), t.num_layers(), t.top_k);
      return 0;
    };
  });

  auto info_file = std::make_shared<std::string>();
  auto* info = cmd->add_subcommand("info", "Print a summary of an HDF5 trace");
  info->add_option("trace", *info_file, "HDF5 trace")->required();
  info->callback([&action, info_file] {
    action = [info_file] {
      std::cout << describe_trace(read_trace(*info_file));
      return 0;
    };
  });
}

} // namespace moesim::cli
