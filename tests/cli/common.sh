# Shared by the CLI tests: MOESIM (binary), SRC (source tree), BLD (build tree), a scratch dir and assertions.
set -uo pipefail
MOESIM=$(realpath "$1")
SRC=$(realpath "$2")
BLD=$(realpath "$3")
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
PASSES=0
pass() { PASSES=$((PASSES + 1)); echo "ok   $*"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL $*"; }
# expect_fail CODE "message substring" -- command...: runs the command, checks exit code and stderr text.
expect_fail() {
  local code=$1 msg=$2
  shift 2
  local out rc
  out=$("$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -ne "$code" ]; then fail "exit $rc (expected $code): $* -> $out"; return; fi
  case "$out" in
    *"$msg"*) pass "exit $code with '$msg'" ;;
    *) fail "message for '$*': got '$out', expected it to contain '$msg'" ;;
  esac
  case "$out" in *"terminate called"*|*"Backtrace"*|*"Aborted"*) fail "crash output for $*";; esac
}
expect_ok() {
  local out
  if out=$("$@" 2>&1); then pass "$*"; else fail "$* -> $out"; fi
}
finish() {
  echo "$PASSES passed, $FAILS failed"
  [ "$FAILS" -eq 0 ]
}
