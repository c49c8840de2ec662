# Two commands set everything up on a fresh machine:
#   make demo   – venv + install, built-in scenes, quick training, export, firmware simulation, summary
#   make test   – venv + install, the audio test device, then the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
OUT    ?= demo_out

.PHONY: demo test install audio-device c-compiler bench bench-c clean help

help:
	@echo "make demo   - train, export and simulate on the built-in scenes (output in $(OUT)/)"
	@echo "make test   - run the test suite"
	@echo "make bench  - latency / throughput benchmarks (JSON in bench_out/)"
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

# A C compiler for catuvac-export --c and its tests (installed with apt-get as root if missing).
c-compiler:
	bash tools/c_compiler.sh

test: $(STAMP) audio-device c-compiler
	$(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/python -m catuvac.demo --out $(OUT)

bench: $(STAMP)
	$(VENV)/bin/python -m catuvac.demo --out $(OUT) --no-sim
	$(VENV)/bin/catuvac-bench --model $(OUT)/model/encoder.int8.onnx --checkpoint $(OUT)/train/checkpoint.pt --json bench_out/bench.json --plot bench_out/bench.png

# The C export target: size, RAM, MACs and time per decision vs ORT int8 (paper-size and smallest model)
bench-c: $(STAMP) c-compiler
	$(PY) -m catuvac.export.bench_c --json bench_out/c_bench.json

clean:
	rm -rf $(VENV) $(OUT) bench_out .pytest_cache
