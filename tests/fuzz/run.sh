#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`: clang + ASan + UBSan) and runs each for SECONDS (default 30) from seed
# corpora made of the bundled real files. Prints executions, coverage and corpus size per target; a crash leaves
# its input as build-fuzz/crash-* and makes the script fail. Usage: bash tests/fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET=${1:-30}
cmake --preset fuzz >/dev/null
cmake --build build-fuzz -j "$(nproc)" >/dev/null
C=build-fuzz/corpus
rm -rf "$C"
mkdir -p "$C"/{model_config,gptoss_json,esft,trace_h5,platform_props,sweep_spec,calib_input}
cp data/models/*/config.json -t "$C/model_config/" 2>/dev/null || true
for m in data/models/*/config.json; do cp "$m" "$C/model_config/$(basename "$(dirname "$m")").json"; done
# Real gpt-oss prompts cut to their first two generated tokens, and one real ESFT sequence cut to eight tokens.
/usr/bin/python3 - "$C" <<'PY'
import glob, gzip, json, os, sys
c = sys.argv[1]
for f in glob.glob("data/traces/gpt-oss-20b-sample/*.json"):
    d = json.load(open(f))
    for p in (d if isinstance(d, list) else [d]):
        keys = list(p["router_data"])[:2] if isinstance(p["router_data"], dict) else None
        if keys is not None:
            p["router_data"] = {k: p["router_data"][k] for k in keys}
        elif isinstance(p["router_data"], list):
            p["router_data"] = p["router_data"][:2]
    json.dump(d, open(os.path.join(c, "gptoss_json", os.path.basename(f)), "w"))
line = gzip.open("data/traces/deepseek-v2-lite-esft/intent/expert_weights_1.txt.gz", "rt").readline().rstrip("\n")
ids, weights = line.split("\t\t")
open(os.path.join(c, "esft", "eight_tokens.txt"), "w").write(
    "\t".join(ids.split("\t")[:48]) + "\t\t" + "\t".join(weights.split("\t")[:48]) + "\n")
PY
cp tests/fuzz/seeds/trace_h5/* "$C/trace_h5/"
cp tests/fuzz/seeds/platform_props/* "$C/platform_props/"
cp tests/fuzz/seeds/sweep_spec/* "$C/sweep_spec/"
cp tests/fuzz/seeds/calib_input/* "$C/calib_input/"
# Allocations the HDF5 library itself keeps on some malformed files are not moesim's leaks. The sanitizer options
# are set here, not inherited, so the runs behave the same from .ci/sanitize.sh and from a shell.
export LSAN_OPTIONS=suppressions=$PWD/.ci/lsan.supp:print_suppressions=0
export ASAN_OPTIONS=detect_stack_use_after_return=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
rm -f build-fuzz/crash-* build-fuzz/timeout-* build-fuzz/oom-* build-fuzz/leak-*

# Prints "hdf5" when the crash INPUT dies inside Debian's libhdf5 (the first frame below the sanitizer's own
# interceptors is in libhdf5: a library bug, docs/robustness.md), "none" when it no longer crashes, "moesim"
# otherwise.
crash_owner() {
  local frame
  frame=$( (cd build-fuzz && ./tests/fuzz/fuzz_trace_h5 -runs=1 -timeout=10 -malloc_limit_mb=1024 "$1" 2>&1 || true) |
    grep -E '^ +#[0-9]+ ' |
    grep -vE ' in ((__interceptor_|__asan|__sanitizer|fuzzer::)[^ ]*|operator (new|delete)\(.*|malloc|calloc|realloc|free|mem(cpy|move|set)|str[a-z]*) ' |
    grep -vE '/(libc|libstdc\+\+|libgcc)[^/]*\.so' | head -1) || true
  case "$frame" in "") echo none ;; *libhdf5*) echo hdf5 ;; *) echo moesim ;; esac
}

status=0
for t in model_config gptoss_json esft trace_h5 platform_props sweep_spec calib_input; do
  log=build-fuzz/fuzz_$t.log
  # Debian's HDF5 1.10 library itself loops forever or reads past its own buffers on some corrupt files
  # (tests/fuzz/known-hdf5-*.h5): the trace target runs in fork mode, where failures are counted and the run goes
  # on. Its exit code then says nothing about moesim: each crash input it kept is replayed and judged by where
  # it dies instead; timeouts (library loops, their stacks unknown) are counted.
  extra=()
  [ "$t" = trace_h5 ] && extra=(-fork=1 -ignore_timeouts=1 -ignore_crashes=1 -ignore_ooms=1 -malloc_limit_mb=1024)
  rc=0
  (cd build-fuzz && ./tests/fuzz/fuzz_$t -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -timeout=10 \
      -rss_limit_mb=4096 -print_final_stats=1 "${extra[@]}" "corpus/$t" > "fuzz_$t.log" 2>&1) || rc=$?
  summary="$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 || true), corpus $(ls "$C/$t" | wc -l) inputs"
  if [ "$t" = trace_h5 ]; then
    ours=0 library=0 flaky=0
    for f in build-fuzz/crash-* build-fuzz/oom-* build-fuzz/leak-*; do
      [ -e "$f" ] || continue
      case "$(crash_owner "$PWD/$f")" in
        hdf5) library=$((library + 1)) ;;
        none) flaky=$((flaky + 1)) ;;
        *) ours=$((ours + 1)); echo "  moesim crash: $f" ;;
      esac
    done
    # find, not ls: ls exits 2 when there is no such file, which pipefail would turn into a failed run.
    timeouts=$(find build-fuzz -maxdepth 1 -name 'timeout-*' | wc -l)
    echo "fuzz_$t: $summary; libhdf5 crashes $library, libhdf5 hangs $timeouts, not reproduced $flaky," \
      "moesim crashes $ours"
    [ "$ours" -eq 0 ] || status=1
  elif [ "$rc" -eq 0 ]; then
    echo "fuzz_$t: $(grep -E '^Done|exec/s' "$log" | tail -1 || true); $summary"
  else
    echo "fuzz_$t: FAILED (see $log)"; grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -5 || true
    status=1
  fi
done
exit $status
