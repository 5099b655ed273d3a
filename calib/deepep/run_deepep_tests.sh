#!/usr/bin/env bash
# Runs DeepEP's own kernel tests over a grid of token counts and writes their output, each run headed by a
# `# moesim-deepep: key=value ...` line that states its shape, into one log that `moesim calibrate` reads
# (calib/README.md, "DeepEP kernels"). Nothing here needs a GPU until the tests start: --dry-run prints the log's
# headers and the commands instead of running them.
#
#   bash calib/deepep/run_deepep_tests.sh --deepep ~/DeepEP --test ll --tokens 1,8,32,128,512 -o ll.log
#   # multi-node (internode, or ll across nodes): start it on every node with the same options and
#   MASTER_ADDR=node0 WORLD_SIZE=2 RANK=<node index> bash calib/deepep/run_deepep_tests.sh ... -o ll-node$RANK.log
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: run_deepep_tests.sh --deepep DIR [options] -o LOG
  --deepep DIR         a DeepEP checkout with its extension built (python setup.py install or build_ext)
  --test T             ll (tests/test_low_latency.py), internode (test_internode.py), intranode (test_intranode.py)
  --tokens LIST        tokens per GPU, comma-separated (default: ll 1,2,4,8,16,32,64,128,256,512; normal 4096)
  --hidden N           hidden size (default 7168, DeepSeek-V3)
  --topk N             experts per token (default 8)
  --experts N          routed experts in all (default: ll 256, internode 256, intranode 256)
  --gpus-per-node N    processes per node (default: nvidia-smi -L, or 8 with --dry-run)
  --nodes N            nodes (default: $WORLD_SIZE, else 1); the node index is $RANK, the master $MASTER_ADDR
  --gpu NAME           the GPU's name for the log (default: nvidia-smi's, or 'unknown' with --dry-run)
  --python PY          the Python that imports torch and deep_ep (default python3)
  --dry-run            print the log headers and the test commands; run nothing
  -o, --out LOG        the log to write (refused when it exists: it is a measurement)
USAGE
}

die() { echo "run_deepep_tests.sh: error: $*" >&2; exit 2; }

deepep="" test="ll" tokens="" hidden=7168 topk=8 experts="" gpn="" nodes="${WORLD_SIZE:-1}" gpu="" py=python3
dry=0 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --deepep) deepep=${2:?}; shift 2 ;;
    --test) test=${2:?}; shift 2 ;;
    --tokens) tokens=${2:?}; shift 2 ;;
    --hidden) hidden=${2:?}; shift 2 ;;
    --topk) topk=${2:?}; shift 2 ;;
    --experts) experts=${2:?}; shift 2 ;;
    --gpus-per-node) gpn=${2:?}; shift 2 ;;
    --nodes) nodes=${2:?}; shift 2 ;;
    --gpu) gpu=${2:?}; shift 2 ;;
    --python) py=${2:?}; shift 2 ;;
    --dry-run) dry=1; shift ;;
    -o|--out) out=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done

is_count() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }
case "$test" in
  ll) script=test_low_latency.py; : "${tokens:=1,2,4,8,16,32,64,128,256,512}" ;;
  internode) script=test_internode.py; : "${tokens:=4096}" ;;
  intranode) script=test_intranode.py; : "${tokens:=4096}" ;;
  *) die "--test: '$test' (expected ll, internode or intranode)" ;;
esac
: "${experts:=256}"
[ -n "$out" ] || die "-o LOG is required"
[ -e "$out" ] && die "$out exists: a log is a measurement and is not overwritten; choose another name"
[ -n "$deepep" ] || die "--deepep DIR is required (a DeepEP checkout)"
for v in hidden topk experts nodes; do
  is_count "${!v}" || die "--$v: '${!v}' is not a positive integer"
done
IFS=, read -r -a token_list <<<"$tokens"
[ "${#token_list[@]}" -gt 0 ] || die "--tokens: empty list"
for t in "${token_list[@]}"; do
  is_count "$t" || die "--tokens: '$t' is not a positive integer"
done
[ "$topk" -le "$experts" ] || die "--topk $topk exceeds --experts $experts"

# DeepEP keeps its tests in tests/ (older releases) or tests/legacy/ (newer ones).
test_path=""
for d in tests tests/legacy; do
  [ -f "$deepep/$d/$script" ] && test_path="$deepep/$d/$script" && break
done
if [ -z "$test_path" ]; then
  [ "$dry" = 1 ] || die "$deepep has no tests/$script or tests/legacy/$script: is it a DeepEP checkout?"
  test_path="$deepep/tests/$script"
fi

if [ -z "$gpn" ]; then
  if [ "$dry" = 1 ]; then gpn=8; else gpn=$(nvidia-smi -L | wc -l); fi
fi
is_count "$gpn" || die "--gpus-per-node: '$gpn' is not a positive integer"
if [ -z "$gpu" ]; then
  if [ "$dry" = 1 ]; then gpu=unknown; else gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); fi
fi
gpu=${gpu// /_} # the header's values have no spaces
ranks=$((nodes * gpn))
[ $((experts % ranks)) -eq 0 ] || die "--experts $experts is not a multiple of the $ranks ranks (DeepEP requires it)"

tmp="$out.partial"
[ "$dry" = 1 ] && tmp=/dev/stdout
[ "$dry" = 1 ] || : >"$tmp"
for t in "${token_list[@]}"; do
  header="# moesim-deepep: test=$test num_tokens=$t hidden=$hidden num_topk=$topk num_experts=$experts nodes=$nodes gpus_per_node=$gpn gpu=$gpu"
  cmd=("$py" "$test_path" --num-processes "$gpn" --num-tokens "$t" --hidden "$hidden" --num-topk "$topk"
       --num-experts "$experts")
  if [ "$dry" = 1 ]; then
    echo "$header"
    echo "${cmd[*]}"
    continue
  fi
  echo "$header" >>"$tmp"
  echo "run_deepep_tests.sh: $t tokens per GPU: ${cmd[*]}" >&2
  (cd "$deepep" && "${cmd[@]}") 2>&1 | tee -a "$tmp" >&2 || die "DeepEP's $script failed at $t tokens (log so far: $tmp)"
done
[ "$dry" = 1 ] || { mv "$tmp" "$out"; echo "$out"; }
