# Two commands set everything up on a fresh machine:
#   make demo   – venv + install, built-in scenes, quick training, export, firmware simulation, summary
#   make test   – venv + install, the audio test device, then the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
OUT    ?= demo_out

.PHONY: demo test install audio-device bench real-corpus bench-real clean help

help:
	@echo "make demo   - train, export and simulate on the built-in scenes (output in $(OUT)/)"
	@echo "make test   - run the test suite"
	@echo "make bench  - latency / throughput benchmarks (JSON in bench_out/)"
	@echo "make real-corpus - install the Debian packages and build the real-audio corpus (~/.cache/catuvac/real)"
	@echo "make bench-real  - real-audio corpus + Table I on its digits and scenes (hours on 2 CPU cores)"

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

test: $(STAMP) audio-device
	$(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/python -m catuvac.demo --out $(OUT)

bench: $(STAMP)
	$(VENV)/bin/python -m catuvac.demo --out $(OUT) --no-sim
	$(VENV)/bin/catuvac-bench --model $(OUT)/model/encoder.int8.onnx --checkpoint $(OUT)/train/checkpoint.pt --json bench_out/bench.json --plot bench_out/bench.png

# Real-audio benchmark corpus (issue 12): Debian packages → $$CATUVAC_CACHE/real/seed$(SEED) (built once).
SEED        ?= 0
REAL_DIR    ?= $${CATUVAC_CACHE:-$$HOME/.cache/catuvac}/real/seed$(SEED)
REAL_RUNS   ?= 3
REAL_EPOCHS ?=
REAL_OUT    ?= bench_out/real
real-corpus: $(STAMP)
	bash tools/real_corpus_packages.sh
	$(VENV)/bin/catuvac-corpus --seed $(SEED) --out $(REAL_DIR)

# Table I on both real corpora: K = classes and a reduced K, $(REAL_RUNS) seeds; REAL_EPOCHS=N shortens the schedule.
bench-real: real-corpus
	$(VENV)/bin/catuvac-table --data audiomnist:$(REAL_DIR)/digits --preset paper-audiomnist --clusters 10 5 --title "real digits" \
		--runs $(REAL_RUNS) $(if $(REAL_EPOCHS),--epochs $(REAL_EPOCHS)) --out $(REAL_OUT)/digits
	$(VENV)/bin/catuvac-table --data folder:$(REAL_DIR)/scenes/clips --preset paper-us8k --clusters 8 4 --title "real scenes" \
		--runs $(REAL_RUNS) $(if $(REAL_EPOCHS),--epochs $(REAL_EPOCHS)) --out $(REAL_OUT)/scenes

clean:
	rm -rf $(VENV) $(OUT) bench_out .pytest_cache
