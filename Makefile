# Two commands set everything up on a fresh machine:
#   make demo   – venv + install, built-in scenes, quick training, export, firmware simulation, summary
#   make test   – venv + install, the audio test device, then the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
OUT    ?= demo_out

.PHONY: demo test lint install audio-device bench clean help

help:
	@echo "make demo   - train, export and simulate on the built-in scenes (output in $(OUT)/)"
	@echo "make test   - lint (ruff + mypy), then run the test suite"
	@echo "make lint   - ruff and mypy only"
	@echo "make bench  - latency / throughput benchmarks (JSON in bench_out/)"

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

# Lint and type check the package (configuration in pyproject.toml); `make test` runs it first.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint $(STAMP) audio-device
	$(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/python -m catuvac.demo --out $(OUT)

bench: $(STAMP)
	$(VENV)/bin/python -m catuvac.demo --out $(OUT) --no-sim
	$(VENV)/bin/catuvac-bench --model $(OUT)/model/encoder.int8.onnx --checkpoint $(OUT)/train/checkpoint.pt --json bench_out/bench.json --plot bench_out/bench.png

clean:
	rm -rf $(VENV) $(OUT) bench_out .pytest_cache
