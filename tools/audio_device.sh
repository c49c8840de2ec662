#!/usr/bin/env bash
# A real PortAudio capture device for the microphone tests (called by `make test`).
#
# What it does (idempotent; a second run takes well under a second):
#   1. installs libportaudio2 (PortAudio, which the sounddevice wheel does not bundle on Linux),
#      pulseaudio, pulseaudio-utils and libasound2-plugins (ALSA's "pulse" PCM) with apt-get —
#      only if one is missing, and `apt-get update` only then;
#   2. starts a private PulseAudio daemon (no user session needed; it runs as the current user,
#      root included) with its socket in $CATUVAC_PULSE_DIR/pulse/native;
#   3. loads a null sink "catuvac_sink" and makes its monitor the default source, so whatever
#      is played into the sink (paplay/pacat) is what PortAudio's "pulse"/"default" ALSA
#      device captures; and two 16-kHz float sinks for the live hearing-aid test;
#   4. writes $CATUVAC_PULSE_DIR/status: "ok" on the first line, or "unavailable: <reason>".
#
# It never fails `make test`: when something cannot be set up it records why in the status
# file and exits 0; tests/runtime/test_microphone.py then skips with that exact reason.
# Clients reach the daemon with PULSE_SERVER=unix:$CATUVAC_PULSE_DIR/pulse/native.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt_ensure.sh"

DIR="${CATUVAC_PULSE_DIR:-/tmp/catuvac-pulse}"
SOCKET="$DIR/pulse/native"
SINK="catuvac_sink"
STATUS="$DIR/status"
mkdir -p "$DIR/pulse" && chmod 700 "$DIR" "$DIR/pulse"

fail() {
    echo "unavailable: $*" >"$STATUS"
    echo "audio-device: NOT set up ($*); the microphone tests will be skipped" >&2
    exit 0
}

# ---------------------------------------------------------------- 1. packages
missing="$(apt_missing libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins)"
if [ -n "$missing" ]; then
    echo "audio-device: installing$missing" >&2
    # shellcheck disable=SC2086  # one word per package
    apt_install "$DIR/apt.log" $missing || fail "$APT_ERROR"
fi

# ---------------------------------------------------------------- 2. daemon
export PULSE_SERVER="unix:$SOCKET"
export XDG_RUNTIME_DIR="$DIR"
if ! pactl info >/dev/null 2>&1; then
    rm -f "$SOCKET" "$DIR/pulse/pid"
    # -n: no default.pa (no hardware probing, no D-Bus); only the modules we name.
    # --exit-idle-time=-1: stay up between test runs. Running as root prints a warning only.
    # --realtime=no --high-priority=no: a test device needs no real-time scheduling, and a
    # real-time thread starved on a loaded 2-core runner can be killed by RLIMIT_RTTIME.
    pulseaudio --daemonize=yes --exit-idle-time=-1 -n --use-pid-file=yes --realtime=no --high-priority=no \
        --load="module-native-protocol-unix socket=$SOCKET auth-anonymous=1" \
        --log-target=file:"$DIR/pulseaudio.log" >/dev/null 2>&1 \
        || fail "pulseaudio did not start (see $DIR/pulseaudio.log)"
    for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
    pactl info >/dev/null 2>&1 || fail "pulseaudio started but does not answer on $SOCKET (see $DIR/pulseaudio.log)"
fi

# ---------------------------------------------------------------- 3. null sink
if ! pactl list short sinks 2>/dev/null | awk '{print $2}' | grep -qx "$SINK"; then
    pactl load-module module-null-sink sink_name="$SINK" rate=48000 channels=1 >/dev/null \
        || fail "could not load module-null-sink"
fi
# Two more sinks for the live hearing-aid test (tests/firmware_sim/test_live_device.py): the
# test plays into LIVE_IN, the live simulation captures LIVE_IN's monitor (PULSE_SOURCE) and
# plays into LIVE_OUT (PULSE_SINK), whose monitor the test records. Float samples at the
# chain's 16 kHz: no resampling and no 16-bit rounding on the way, so the comparison with the
# offline simulator can be tight.
for live_sink in catuvac_live_in catuvac_live_out; do
    if ! pactl list short sinks 2>/dev/null | awk '{print $2}' | grep -qx "$live_sink"; then
        pactl load-module module-null-sink sink_name="$live_sink" rate=16000 channels=1 format=float32le >/dev/null \
            || fail "could not load module-null-sink $live_sink"
    fi
done
pactl set-default-sink "$SINK" || fail "could not make $SINK the default sink"
pactl set-default-source "$SINK.monitor" || fail "could not make $SINK.monitor the default source"

echo "ok" >"$STATUS"
echo "PULSE_SERVER=$PULSE_SERVER" >>"$STATUS"
echo "audio-device: PulseAudio null sink '$SINK' ready (capture its monitor through PortAudio; PULSE_SERVER=$PULSE_SERVER)" >&2
exit 0
