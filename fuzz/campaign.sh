#!/bin/bash
# One-CPU-hour fuzz campaigns on a many-core machine, several targets side by side.
#
#   bash fuzz/campaign.sh SECONDS WORKERS OUT_DIR TARGET...
#   e.g. bash fuzz/campaign.sh 450 8 /tmp/fuzzres abc musicxml    # 2 targets x 8 workers x 450 s on 16 cores
#
# Runs from the repository root with the python3 on PATH. Where that Python lacks the parsers'
# packages (a lent machine with no network), put wheels for its version in build/fuzzwheels first:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#       --platform manylinux_2_28_x86_64 --implementation cp -d build/fuzzwheels \
#       atheris==3.0.0 soundfile mido music21 chardet more-itertools webcolors jsonpickle cffi pycparser
# They are installed into /tmp/fvlib (not into that machine's Python).
# Each target's summary is OUT_DIR/TARGET.json; crash, timeout and slow inputs go to OUT_DIR/art-TARGET.
set -u
secs=$1; workers=$2; out=$3; shift 3
PY=$(command -v python3)
if [ -d build/fuzzwheels ] && [ ! -d /tmp/fvlib/atheris ]; then
  $PY -m pip install -q --no-index --no-deps --target /tmp/fvlib build/fuzzwheels/*.whl 2>&1 | tail -2
fi
export PYTHONPATH=$PWD/src:/tmp/fvlib
$PY -c "import atheris, soundfile, mido, music21, numpy; print('python', __import__('sys').version.split()[0], 'numpy', numpy.__version__, 'libsndfile', soundfile.__libsndfile_version__, 'music21', music21.__version__)"
mkdir -p "$out"
for t in "$@"; do
  $PY fuzz/run.py "$t" --seconds "$secs" --campaign --workers "$workers" --artifacts "$out/art-$t" --json \
    > "$out/$t.json" 2> "$out/$t.err" &
done
wait
echo "cores: $(nproc); $(uptime)"
for t in "$@"; do cat "$out/$t.json"; echo; done
