#!/usr/bin/env bash
# 60 s of live hearing-aid processing on the PulseAudio null-sink device (`make bench-live`).
#
# Plays the built-in day recording into the catuvac_live_in sink, runs
# `catuvac-sim --live` on its monitor with the demo's int8 model and map, plays into
# catuvac_live_out, and writes the summary (underflows, overflows, latency, callback time,
# decision latency) to bench_out/live.json and the processed audio to bench_out/live_out.wav.
# Needs tools/audio_device.sh (run first) and `make demo` (the model).
set -eu
OUT="${OUT:-demo_out}"
SECONDS_LIVE="${SECONDS_LIVE:-60}"
PY="${PY:-.venv/bin/python}"
DIR="${CATUVAC_PULSE_DIR:-/tmp/catuvac-pulse}"
head -1 "$DIR/status" 2>/dev/null | grep -qx ok || { echo "bench-live: the audio test device is not set up (run tools/audio_device.sh)" >&2; exit 2; }
export PULSE_SERVER="unix:$DIR/pulse/native" PULSE_SOURCE=catuvac_live_in.monitor PULSE_SINK=catuvac_live_out
DAY="$("$PY" -c 'from catuvac.training.scenes import builtin_scenes_dir; print(builtin_scenes_dir(seed=0) / "days" / "day.wav")')"
mkdir -p bench_out
paplay --latency-msec=20 --device=catuvac_live_in "$DAY" &
PLAYER=$!
trap 'kill $PLAYER 2>/dev/null || true' EXIT
.venv/bin/catuvac-sim --live --model "$OUT/model/encoder.int8.onnx" --map "$OUT/profile_map.json" \
    --input-device pulse --output-device pulse --seconds "$SECONDS_LIVE" \
    --record bench_out/live_out.wav --report bench_out/live.json | grep -v '^ *[0-9.]* s |'
