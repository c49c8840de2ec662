"""Stable decisions: bursts rejected, sustained changes followed within the documented delay, dwell."""

from __future__ import annotations

import numpy as np
import pytest

from catuvac.runtime.smoothing import Smoother, SmootherError, SmoothingConfig

DT = 0.99  # the clusterer's default cadence (33 hops of 30 ms)


def onehot(k: int, K: int = 4, p: float = 0.94) -> np.ndarray:
    q = np.full(K, (1 - p) / (K - 1))
    q[k] = p
    return q


def run(seq: list[int], cfg: SmoothingConfig | None = None, K: int = 4, p: float = 0.94) -> list[tuple[int, bool]]:
    s = Smoother(K, cfg)
    return [s.update(onehot(k, K, p), i * DT)[1:] for i, k in enumerate(seq)]


def stables(seq: list[int], **kw) -> list[int]:
    return [st for st, _ in run(seq, **kw)]


def test_first_decision_is_first_argmax() -> None:
    out = run([2, 0, 0])
    assert out[0] == (2, True)
    assert out[1] == (2, False)


@pytest.mark.parametrize("burst, p", [(1, 0.99), (1, 0.94), (1, 0.6), (1, 0.4)])
def test_short_burst_does_not_flip(burst: int, p: float) -> None:
    seq = [0] * 10 + [3] * burst + [0] * 10
    out = run(seq, p=p)
    assert all(st == 0 for st, _ in out)
    assert sum(ch for _, ch in out) == 1  # only the first decision


def test_two_decision_hard_burst_is_a_change() -> None:
    # documented trade-off: with the defaults a hard 2-decision burst is indistinguishable from a change
    st = stables([0] * 10 + [3] * 2 + [0] * 10)
    assert 3 in st


@pytest.mark.parametrize("p, within", [(0.94, 1), (0.8, 1), (0.6, 1), (0.4, 2)])
def test_sustained_change_switches_fast(p: float, within: int) -> None:
    seq = [0] * 10 + [3] * 10
    st = stables(seq, p=p)
    switch = st.index(3)
    assert 1 <= switch - 10 <= within  # the 2nd decision of the new class (3rd for q=0.4 of 4)
    assert st[switch:] == [3] * (len(seq) - switch)


def test_hysteresis_blocks_near_ties() -> None:
    s = Smoother(3)
    s.update(np.array([0.5, 0.4, 0.1]), 0.0)
    for i in range(1, 30):  # cluster 1 slightly ahead forever: within the 0.15 margin
        _, st, ch = s.update(np.array([0.42, 0.48, 0.10]), i * DT)
        assert st == 0 and not ch


def test_min_dwell_since_previous_switch() -> None:
    cfg = SmoothingConfig(min_dwell_seconds=8.0)
    # 0 → 3 at decision ~12, then immediately back to 0: the return must wait for the dwell
    seq = [0] * 10 + [3] * 4 + [0] * 15
    st = stables(seq, cfg=cfg)
    first = st.index(3)
    back = first + st[first:].index(0)
    assert (back - first) * DT >= 8.0 - 0.5 * DT
    # without the long dwell the return is quicker
    st2 = stables(seq, cfg=SmoothingConfig(min_dwell_seconds=0.0))
    first2 = st2.index(3)
    assert first2 == first and first2 + st2[first2:].index(0) < back


def test_first_switch_not_delayed_by_dwell_from_start() -> None:
    # the dwell counts from the first decision: a change 3 s in waits until 6 s have passed
    st = stables([0] * 3 + [3] * 10)
    assert st.index(3) * DT >= 6.0 - 0.5 * DT


def test_off_is_argmax() -> None:
    seq = [0, 1, 2, 1, 3, 3, 0]
    assert stables(seq, cfg=SmoothingConfig.off()) == seq


def test_reset_and_validation() -> None:
    s = Smoother(4)
    s.update(onehot(1), 0.0)
    s.reset()
    assert s.stable is None
    assert s.update(onehot(2), 0.0)[1:] == (2, True)
    with pytest.raises(SmootherError, match="expected 4 probabilities"):
        s.update(np.ones(3) / 3, 1.0)
    with pytest.raises(SmootherError, match="hysteresis"):
        SmoothingConfig(hysteresis=1.5)
    with pytest.raises(SmootherError, match="ema_seconds"):
        SmoothingConfig(ema_seconds=-1)
