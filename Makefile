# tunesmith — two commands on a fresh Debian 12 machine with Python 3.11:
#   make demo   set everything up, then run the main job on built-in defaults
#   make test   set everything up, then run the whole test suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages: ffmpeg decodes formats libsndfile cannot (AAC/M4A, WMA, …); fluidsynth
# (on libfluidsynth3) and the FluidR3 General MIDI SoundFont render scores to audio stems;
# chromium runs the studio's browser tests (Playwright drives it; no browser is downloaded).
APT_PACKAGES := ffmpeg fluidsynth fluid-soundfont-gm chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install apt demo test lint bench clean

install: apt $(STAMP)

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,scale]"
	# basic-pitch is only the peer in benchmarks/hum_eval.py: its ONNX model, without TensorFlow.
	$(BIN)/python -m pip install -q --no-deps "basic-pitch==0.4.0"
	@touch $(STAMP)

demo: install
	$(BIN)/tunesmith produce -o demo/song
	$(BIN)/tunesmith analyze src/tunesmith/data/example.ogg --plot demo/example-analysis.png
	$(BIN)/tunesmith master src/tunesmith/data/example.ogg -o demo/example-master.wav --target streaming \
	  --report demo/example-master-report.html --preview demo/example-preview.wav
	@echo
	@echo "Your new song (composed, rendered, mixed and mastered): demo/song/"
	@echo "  listen:  demo/song/master.mp3   (24-bit WAV: demo/song/master.wav)"
	@echo "  report:  demo/song/report.html  (piano roll, form, chords, mix and master)"
	@echo "  MIDI:    demo/song/song.mid     lead sheet: demo/song/leadsheet.musicxml   stems: demo/song/stems/"
	@echo "Mastering demo on a real recording: demo/example-master.wav (report: demo/example-master-report.html)"

test: install
	$(BIN)/python -m pytest -n 2 -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python benchmarks/meter_speed.py
	$(BIN)/python benchmarks/master_vs_matchering.py
	$(BIN)/python benchmarks/pop909_load.py
	$(BIN)/python benchmarks/render_speed.py
	$(BIN)/python benchmarks/compose_eval.py
	$(BIN)/python benchmarks/produce_speed.py
	$(BIN)/python benchmarks/accompany_eval.py
	$(BIN)/python benchmarks/recommend_eval.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
