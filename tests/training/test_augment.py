"""The random views of the ``augment`` term: shapes, exact geometry of each change, seeding."""

from __future__ import annotations

import pytest
import torch

from catuvac.training.augment import ViewConfig, random_view

_OFF = ViewConfig(freq_warp=0.0, time_stretch=0.0, shift=0.0, mask=0.0)


def _line(row: int, f: int = 64, t: int = 40) -> torch.Tensor:
    x = torch.zeros(1, 1, f, t)
    x[:, :, row, :] = 1.0
    return x


def _row_centre(v: torch.Tensor) -> float:
    prof = v[0, 0].mean(1)
    return float((prof * torch.arange(len(prof))).sum() / prof.sum())


def test_shape_dtype_memory_format_and_range_kept():
    torch.manual_seed(0)
    x = torch.rand(5, 1, 32, 24).contiguous(memory_format=torch.channels_last)
    v = random_view(x)
    assert v.shape == x.shape and v.dtype == x.dtype and v.is_contiguous(memory_format=torch.channels_last)
    assert float(v.min()) >= float(x.min()) - 1e-6 and float(v.max()) <= float(x.max()) + 1e-6
    assert not torch.allclose(v, x)
    with pytest.raises(ValueError, match=r"\(B, 1, F, T\)"):
        random_view(torch.rand(3, 32, 24))


def test_all_changes_off_is_the_identity():
    x = torch.rand(3, 1, 16, 20)
    assert torch.allclose(random_view(x, _OFF), x, atol=1e-6)


def test_frequency_warp_scales_from_the_lowest_bin():
    # a line at bin 20 lands at 20·α (±1 bin of bilinear spread), α within ±15 %; frames untouched
    torch.manual_seed(3)
    cfg = ViewConfig(freq_warp=0.15, time_stretch=0.0, shift=0.0, mask=0.0)
    centres = [_row_centre(random_view(_line(20), cfg)) for _ in range(40)]
    assert min(centres) >= 20 / 1.15 - 1 and max(centres) <= 20 * 1.15 + 1
    assert max(centres) - min(centres) > 3  # the warp really varies between draws


def test_shift_moves_an_onset_and_pads_with_the_floor():
    x = torch.full((1, 1, 8, 50), 0.2)
    x[..., 10:20] = 1.0
    torch.manual_seed(1)
    cfg = ViewConfig(freq_warp=0.0, time_stretch=0.0, shift=0.1, mask=0.0)
    for _ in range(10):
        v = random_view(x, cfg)
        on = (v[0, 0, 0] > 0.6).nonzero().flatten()
        assert abs(int(on[0]) - 10) <= 6 and len(on) in range(9, 12)
        assert float(v.min()) == pytest.approx(0.2)  # outside the window: its floor (window_level's level), not 0


def test_masks_hide_one_band_and_one_stretch_at_the_floor():
    torch.manual_seed(2)
    x = torch.ones(64, 1, 50, 40)
    x[:, :, 0, 0] = 0.0
    v = random_view(x, ViewConfig(freq_warp=0.0, time_stretch=0.0, shift=0.0, mask=0.1))
    hidden = (v == 0.0)[:, 0]
    rows = hidden.all(dim=2).sum(1)  # whole bands hidden per window
    cols = hidden.all(dim=1).sum(1)
    assert int(rows.max()) <= 5 and int(cols.max()) <= 4 and int(rows.sum()) > 0 and int(cols.sum()) > 0


def test_views_repeat_under_the_same_seed():
    x = torch.rand(4, 1, 16, 20)
    torch.manual_seed(7)
    a = random_view(x)
    torch.manual_seed(7)
    assert torch.equal(a, random_view(x))
