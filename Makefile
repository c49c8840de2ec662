# Two commands set everything up on a fresh machine:
#   make demo   – venv + install, built-in scenes, quick training, export, firmware simulation, summary
#   make test   – venv + install, the audio test device, then the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
OUT    ?= demo_out

.PHONY: demo test lint install audio-device browser c-compiler bench bench-days bench-live real-corpus bench-real bench-c clean help

help:
	@echo "make demo   - train, export and simulate on the built-in scenes (output in $(OUT)/)"
	@echo "make test   - lint (ruff + mypy), then run the test suite"
	@echo "make lint   - ruff and mypy only"
	@echo "make bench  - latency / throughput benchmarks (JSON in bench_out/)"
	@echo "make bench-days - decision quality of the demo model on 3 long days (seeds 1-3) + the trade-off plot (seeds 100-105)"
	@echo "make bench-live - 60 s of live hearing-aid processing on the test audio device (bench_out/live.json)"
	@echo "make real-corpus - install the Debian packages and build the real-audio corpus (~/.cache/catuvac/real)"
	@echo "make bench-real  - real-audio corpus + Table I on its digits and scenes (hours on 2 CPU cores)"
	@echo "make bench-c - the C export target: size, RAM, MACs, time per decision vs ORT int8"

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# constraints.txt pins torch==2.13.0 (CPU build); a looser pin downloads GBs of CUDA wheels.
	$(PIP) install -q -c constraints.txt -e ".[train,dev]"
	touch $(STAMP)

install: $(STAMP)

# A real PortAudio capture device for the microphone tests (PulseAudio null sink + its monitor).
audio-device:
	bash tools/audio_device.sh

# A headless Chromium for the cluster-audition page test (Debian's chromium package).
browser:
	bash tools/browser.sh

# A C compiler for catuvac-export --c and its tests (installed with apt-get as root if missing).
c-compiler:
	bash tools/c_compiler.sh

# Lint and type check the package (configuration in pyproject.toml); `make test` runs it first.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: $(STAMP) audio-device browser c-compiler lint
	$(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/python -m catuvac.demo --out $(OUT)

bench: $(STAMP)
	$(VENV)/bin/python -m catuvac.demo --out $(OUT) --no-sim
	$(VENV)/bin/catuvac-bench --model $(OUT)/model/encoder.int8.onnx --checkpoint $(OUT)/train/checkpoint.pt --json bench_out/bench.json --plot bench_out/bench.png

# Decision quality (README "Decision quality"): the map from the training split, three 30-min acceptance
# days (seeds 1-3, never tuned on) and the trade-off / tuning on the tuning days (seeds 100-105).
bench-days: $(STAMP)
	$(VENV)/bin/python -m catuvac.demo --out $(OUT) --no-sim
	$(VENV)/bin/catuvac-map --checkpoint $(OUT)/train/checkpoint.pt --out $(OUT)/profile_map.json --quiet
	$(VENV)/bin/catuvac-bench --model $(OUT)/model/encoder.int8.onnx --map $(OUT)/profile_map.json --days 3 --day-minutes 30 --day-seeds 1 2 3 --json bench_out/days_seeds1-3.json
	for s in 100 101 102 103 104 105; do test -f bench_out/days/seed$$s-m30/day_info.json || $(VENV)/bin/catuvac-scenes --out bench_out/days/seed$$s-m30 --day-minutes 30 --day-seed $$s --quiet; done
	$(VENV)/bin/python -m catuvac.runtime.tradeoff --model $(OUT)/model/encoder.int8.onnx --map $(OUT)/profile_map.json --days $(foreach s,100 101 102 103 104 105,bench_out/days/seed$(s)-m30) --tune --json bench_out/tradeoff_seeds100-105.json --plot bench_out/decision_tradeoff.png
# 60 s of live processing through the null-sink device: underflows, latency (bench_out/live.json).
bench-live: $(STAMP) audio-device
	$(VENV)/bin/python -m catuvac.demo --out $(OUT) --no-sim
	bash tools/bench_live.sh
# Real-audio benchmark corpus (issue 12): Debian packages → $$CATUVAC_CACHE/real/seed$(SEED) (built once).
SEED        ?= 0
REAL_DIR    ?= $${CATUVAC_CACHE:-$$HOME/.cache/catuvac}/real/seed$(SEED)
REAL_RUNS   ?= 3
REAL_EPOCHS ?=
# the scenes are scored by 5-fold cross-validation over their recordings (run r tests on fold r):
# a 10 % test split of this corpus is ~14 recordings (README, "Table I on real audio")
REAL_FOLDS  ?= 5
REAL_OUT    ?= bench_out/real
real-corpus: $(STAMP)
	bash tools/real_corpus_packages.sh
	$(VENV)/bin/catuvac-corpus --seed $(SEED) --out $(REAL_DIR)

# Table I on both real corpora: K = classes and a reduced K, $(REAL_RUNS) seeds; REAL_EPOCHS=N shortens the schedule.
bench-real: real-corpus
	$(VENV)/bin/catuvac-table --data audiomnist:$(REAL_DIR)/digits --preset paper-audiomnist --clusters 10 5 --title "real digits" \
		--runs $(REAL_RUNS) $(if $(REAL_EPOCHS),--epochs $(REAL_EPOCHS)) --out $(REAL_OUT)/digits
	$(VENV)/bin/catuvac-table --data folder:$(REAL_DIR)/scenes/clips --preset paper-us8k --clusters 8 4 --title "real scenes" \
		--folds $(REAL_FOLDS) --runs $(REAL_FOLDS) $(if $(REAL_EPOCHS),--epochs $(REAL_EPOCHS)) --out $(REAL_OUT)/scenes
# The C export target: size, RAM, MACs and time per decision vs ORT int8 (paper-size and smallest model)
bench-c: $(STAMP) c-compiler
	$(PY) -m catuvac.export.bench_c --json bench_out/c_bench.json

clean:
	rm -rf $(VENV) $(OUT) bench_out .pytest_cache
