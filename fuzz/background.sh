#!/bin/bash
# One-CPU-hour fuzz campaigns on idle cycles, while the machine does other work.
#
#   bash fuzz/background.sh OUT_DIR TARGET...        # e.g. bash fuzz/background.sh /tmp/fuzzres recipe style
#
# Runs as many targets at a time as there are cores, each `fuzz/run.py TARGET --cpu-seconds 3600
# --campaign` (one libFuzzer process), so each gets a full CPU-hour however long that takes.
# Lowest priority: niceness 19 inside its own session, and that session's autogroup set to 19 as
# well, since with the kernel's autogroup scheduler a process's own niceness only counts against
# its own session's processes (`nice` alone left the campaigns a fair share against a benchmark).
# Timing benchmarks run beside it still see the cores almost whole (a 2-thread CPU loop: 98 %).
# A wall-clock input timeout (20 s) can fire falsely when the campaign was starved for that long:
# replay every timeout with `fuzz/run.py TARGET --replay FILE` before calling it a bug.
# Each target's summary goes to OUT_DIR/TARGET.json, its inputs to OUT_DIR/art-TARGET;
# OUT_DIR/queue.log says when each started and ended.
set -u
out=$1; shift
mkdir -p "$out"
if [ -z "${TUNESMITH_FUZZ_DETACHED:-}" ]; then
  TUNESMITH_FUZZ_DETACHED=1 setsid nohup bash "$0" "$out" "$@" > "$out/background.out" 2>&1 < /dev/null &
  echo "started in the background (pid $!); see $out/queue.log"
  exit 0
fi
echo 19 > /proc/$$/autogroup 2>/dev/null || true
py=${PYTHON:-.venv/bin/python}
run_one() {
  echo "$(date +%T) start $1" >> "$out/queue.log"
  nice -n 19 "$py" fuzz/run.py "$1" --cpu-seconds 3600 --campaign --artifacts "$out/art-$1" --json \
    > "$out/$1.json" 2> "$out/$1.err"
  echo "$(date +%T) done $1 (exit $?)" >> "$out/queue.log"
}
export -f run_one
export out py
printf '%s\n' "$@" | xargs -P "$(nproc)" -I{} bash -c 'run_one {}'
echo "$(date +%T) all done" >> "$out/queue.log"
