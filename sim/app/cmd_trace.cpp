#include "commands.hpp"
#include "core/io/errors.hpp"
#include "core/model/model_spec.hpp"
#include "core/trace/trace.hpp"
#include "core/trace/trace_import.hpp"
#include "core/trace/trace_stats.hpp"
#include "core/trace/trace_synth.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>

namespace moesim::cli {

namespace {

void add_trace_stats(CLI::App& cmd, Action& action)
{
  struct StatsOpts {
    std::string trace;
    std::string out;
    TraceStatsOptions o;
  };
  auto so = std::make_shared<StatsOpts>();
  auto* st = cmd.add_subcommand("stats", "Characterise a trace: load imbalance, label specificity, prefill/decode "
                                         "correlation, label classification, co-activation (docs/traces.md)");
  st->add_option("trace", so->trace, "HDF5 trace")->required();
  st->add_option("-o,--out", so->out, "also write the statistics to this HDF5 file (plot with experiments/plot_trace_stats.py)");
  st->add_option("--window", so->o.window_steps, "decode steps per window of the imbalance-over-time series")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  st->add_option("--signature-tokens", so->o.signature_tokens, "first tokens a request's label is classified from")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  st->add_option("--train-fraction", so->o.train_fraction, "share of each label's requests the centroids are fitted on")
      ->capture_default_str()->check(CLI::Range(0.01, 0.99));
  st->add_option("--seed", so->o.seed, "seed of the train/test split")->capture_default_str();
  st->callback([&action, so] {
    action = [so] {
      const Trace t = read_trace(so->trace);
      require_tokens(t, so->trace);
      const TraceStats s = compute_trace_stats(t, so->o);
      std::cout << format_trace_stats(s);
      if (!so->out.empty()) {
        write_trace_stats(s, so->out);
        spdlog::info("wrote {}", so->out);
      }
      return 0;
    };
  });
}

/// "MIN:MAX" or "N" into a range.
std::pair<int, int> parse_range(const std::string& text, const std::string& option)
{
  try {
    size_t used = 0;
    const auto colon = text.find(':');
    const int lo = std::stoi(text.substr(0, colon), &used);
    if (used != text.substr(0, colon).size())
      throw std::invalid_argument("trailing");
    int hi = lo;
    if (colon != std::string::npos) {
      const std::string rest = text.substr(colon + 1);
      hi = std::stoi(rest, &used);
      if (used != rest.size())
        throw std::invalid_argument("trailing");
    }
    return {lo, hi};
  } catch (const std::logic_error&) {
    throw UsageError(option + ": expected N or MIN:MAX (integers), got '" + text + "'");
  }
}

void add_trace_synth(CLI::App& cmd, Action& action)
{
  struct SynthOpts {
    std::string model, out, preset, prompt, decode;
    std::vector<std::string> labels;
    std::vector<double> mix;
    int requests = 0;
    int64_t tokens = 0;
    double skew = -1, overlap = -1, correlation = -2, drift = -1;
    int drift_window = 0;
    std::string arrival = "mixed";
    int context = 0;
    uint64_t seed = 1;
  };
  auto so = std::make_shared<SynthOpts>();
  auto* sy = cmd.add_subcommand("synth", "Generate a synthetic trace for a model with controlled skew, label overlap, "
                                         "prefill/decode correlation and drift (docs/traces.md)");
  sy->add_option("--model", so->model, "the model's Hugging Face config.json")->required();
  sy->add_option("-o,--out", so->out, "output HDF5 trace")->required();
  sy->add_option("--preset", so->preset, "generic, deepseek-v3, qwen3, maverick (default: the model's own)")
      ->check(CLI::IsMember(synth_preset_names()));
  sy->add_option("--requests", so->requests, "number of requests (default 256)")->check(CLI::Range(1, 100'000'000));
  sy->add_option("--tokens", so->tokens, "generate requests until exactly this many tokens (instead of --requests)")
      ->check(CLI::Range(int64_t{1}, int64_t{100'000'000}));
  sy->add_option("--labels", so->labels, "task labels (default code math chat general)")->delimiter(',');
  sy->add_option("--mix", so->mix, "weight of each label, comma separated (default equal)")->delimiter(',');
  sy->add_option("--prompt", so->prompt, "prefill tokens per request, N or MIN:MAX (default 64:256)");
  sy->add_option("--context", so->context,
                 "context tokens before each request's first traced token (not traced; they set the KV length, "
                 "e.g. a long prompt whose routing is not needed)")
      ->check(CLI::Range(0, 10000000));
  sy->add_option("--decode", so->decode, "decode tokens per request, N or MIN:MAX (default 32:128)");
  sy->add_option("--skew", so->skew, "Zipf exponent of each label's expert popularity");
  sy->add_option("--overlap", so->overlap, "overlap coefficient between labels' popularity, 0..1");
  sy->add_option("--correlation", so->correlation, "prefill/decode Pearson correlation of a request's expert counts");
  sy->add_option("--drift", so->drift, "share of a request's decode distribution renewed every --drift-window steps");
  sy->add_option("--drift-window", so->drift_window, "decode steps between drift renewals (default 16)");
  sy->add_option("--arrival", so->arrival,
                 "request order: mixed (labels drawn per request) or by-label (label after label: the task mix "
                 "shifts over the trace, for --refit-every studies)")
      ->capture_default_str();
  sy->add_option("--seed", so->seed, "random seed")->capture_default_str();
  sy->callback([&action, so] {
    action = [so] {
      const ModelSpec model = load_model_spec(so->model);
      SynthSpec s = synth_preset(so->preset.empty() ? default_synth_preset(model) : so->preset);
      if (!so->labels.empty())
        s.labels = so->labels;
      s.label_mix = so->mix;
      if (so->requests > 0)
        s.requests = so->requests;
      s.tokens = so->tokens;
      if (so->requests > 0 && so->tokens > 0)
        throw UsageError("trace synth: give --requests or --tokens, not both");
      if (!so->prompt.empty())
        std::tie(s.prompt_min, s.prompt_max) = parse_range(so->prompt, "--prompt");
      if (!so->decode.empty())
        std::tie(s.decode_min, s.decode_max) = parse_range(so->decode, "--decode");
      s.context = so->context;
      if (so->skew != -1)
        s.skew = so->skew;
      if (so->overlap != -1)
        s.overlap = so->overlap;
      if (so->correlation != -2)
        s.correlation = so->correlation;
      if (so->drift != -1)
        s.drift = so->drift;
      if (so->drift_window != 0)
        s.drift_window = so->drift_window;
      s.arrival = so->arrival;
      s.seed = so->seed;
      const Trace t = synthesize_trace(model, s);
      const auto w0 = std::chrono::steady_clock::now();
      write_trace(t, so->out);
      spdlog::debug("trace synth: writing took {:.2f} s", std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count());
      spdlog::info("wrote {}: {} requests, {} tokens ({} decode), {} MoE layers x top-{}", so->out, t.requests.size(),
                   t.num_tokens(), t.count_phase(Phase::Decode), t.num_layers(), t.top_k);
      return 0;
    };
  });
}

} // namespace

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

  add_trace_stats(*cmd, action);
  add_trace_synth(*cmd, action);
}

} // namespace moesim::cli
