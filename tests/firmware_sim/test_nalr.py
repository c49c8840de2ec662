"""NAL-R prescription against hand-computed values, audiogram validation, band interpolation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from catuvac.firmware_sim import DEFAULT_AUDIOGRAM, Audiogram, AudiogramError, nalr_band_gains, nalr_gains
from catuvac.firmware_sim.nalr import NALR_FREQUENCIES_HZ

F9 = NALR_FREQUENCIES_HZ  # 250, 500, 750, 1000, 1500, 2000, 3000, 4000, 6000


@pytest.mark.parametrize(
    "hl, expected",
    [
        # flat 0 dB HL: G = max(k, 0)
        ([0] * 9, [0, 0, 0, 1, 1, 0, 0, 0, 0]),
        # flat 40 dB HL: X = 0.05·120 = 6; G = 6 + 12.4 + k
        ([40] * 9, [1.4, 10.4, 15.4, 19.4, 19.4, 17.4, 16.4, 16.4, 16.4]),
        # sloping 10…80: X = 0.05·(20+40+60) = 6
        (
            [10, 20, 30, 40, 50, 60, 70, 75, 80],
            [0.0, 4.2, 12.3, 19.4, 22.5, 23.6, 25.7, 27.25, 28.8],
        ),
        # reverse slope, low-frequency loss: X = 0.05·(60+40+20) = 6
        (
            [70, 60, 50, 40, 30, 20, 20, 20, 20],
            [10.7, 16.6, 18.5, 19.4, 16.3, 11.2, 10.2, 10.2, 10.2],
        ),
    ],
)
def test_nalr_equals_formula_on_full_audiograms(hl, expected):
    a = Audiogram(F9, tuple(float(h) for h in hl))
    np.testing.assert_allclose(nalr_gains(a), expected, atol=1e-9)


def test_nalr_interpolates_missing_frequencies_on_log_axis():
    a = Audiogram((250, 500, 1000, 2000, 4000, 8000), (10, 20, 50, 70, 80, 90))
    g = nalr_gains(a)
    # X = 0.05·(20+50+70) = 7; HL(750) = 20 + 30·log2(1.5); HL(6000) = 80 + 10·log2(1.5)
    hl750 = 20 + 30 * np.log2(1.5)
    hl6000 = 80 + 10 * np.log2(1.5)
    np.testing.assert_allclose(g[[0, 1, 3, 5, 7]], [0.0, 5.2, 23.5, 27.7, 29.8], atol=1e-9)
    assert g[2] == pytest.approx(7 + 0.31 * hl750 - 3)
    assert g[8] == pytest.approx(7 + 0.31 * hl6000 - 2)


def test_default_audiogram_gains():
    np.testing.assert_allclose(
        nalr_gains(DEFAULT_AUDIOGRAM),
        [0.0, 4.5, 4.75 + 0.31 * (25 + 5 * np.log2(1.5)) - 3, 15.05, 4.75 + 0.31 * (30 + 10 * np.log2(1.5)) + 1,
         16.15, 16.7, 18.25, 19.8],
        atol=1e-9,
    )


def test_band_gains_interpolate_prescription_to_band_centres():
    a = Audiogram(F9, (40,) * 9)
    g9 = nalr_gains(a)
    centres = [250.0, 1000.0, 1732.0, 6000.0]
    gb = nalr_band_gains(a, centres)
    assert gb[0] == pytest.approx(g9[0])
    assert gb[1] == pytest.approx(g9[3])
    # 1732 Hz lies between the nodes 1500 Hz (19.4 dB) and 2000 Hz (17.4 dB), on a log axis
    t = np.log(1732.0 / 1500) / np.log(2000 / 1500)
    assert gb[2] == pytest.approx(19.4 + t * (17.4 - 19.4))
    assert gb[3] == pytest.approx(g9[8])


@pytest.mark.parametrize(
    "d, match",
    [
        ({"frequencies_hz": [250, 500, 1000], "thresholds_db_hl": [10, 20]}, "one threshold per frequency"),
        ({"frequencies_hz": [500, 250, 1000, 2000], "thresholds_db_hl": [1, 2, 3, 4]}, "strictly increasing"),
        ({"frequencies_hz": [500, 1000, 2000], "thresholds_db_hl": [10, 200, 30]}, "200 dB HL at 1000 Hz"),
        ({"frequencies_hz": [1000, 2000, 4000], "thresholds_db_hl": [10, 20, 30]}, "500–2000 Hz"),
        ({"frequencies_hz": [500, 1000, 2000], "thresholds_db_hl": [10, 20, 30], "ear": "left"}, "unknown field"),
        ({"frequencies_hz": [500, 1000, 2000]}, "missing field 'thresholds_db_hl'"),
        ({"frequencies_hz": [500, 1000, 2000], "thresholds_db_hl": [10, "x", 30]}, "list of numbers"),
    ],
)
def test_audiogram_validation(d, match):
    with pytest.raises(AudiogramError, match=match):
        Audiogram.from_dict(d)


def test_audiogram_file_roundtrip_and_errors(tmp_path):
    p = tmp_path / "ag.json"
    p.write_text(json.dumps(DEFAULT_AUDIOGRAM.to_dict()))
    assert Audiogram.load(p) == DEFAULT_AUDIOGRAM
    with pytest.raises(AudiogramError, match="not found"):
        Audiogram.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(AudiogramError, match="not valid JSON"):
        Audiogram.load(bad)


def test_severe_loss_branch_above_180_db_sum():
    """Three-frequency sum 240 dB HL (80 each): X = 0.05·180 + 0.116·60 = 15.96 dB, not 0.05·240 = 12."""
    from catuvac.firmware_sim.nalr import Audiogram, nalr_gains, nalr_x

    assert nalr_x(180.0) == pytest.approx(9.0) and nalr_x(240.0) == pytest.approx(15.96)
    ag = Audiogram((250, 500, 1000, 2000, 4000, 8000), (80,) * 6)
    g = nalr_gains(ag)
    assert g[3] == pytest.approx(15.96 + 0.31 * 80 + 1.0)  # 1 kHz, k = +1
    profound = Audiogram((250, 500, 1000, 2000, 4000, 8000), (130,) * 6)  # accepted up to 130 dB HL
    assert nalr_gains(profound)[3] == pytest.approx(0.05 * 180 + 0.116 * 210 + 0.31 * 130 + 1.0)
