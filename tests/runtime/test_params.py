"""Declared ranges of numeric settings (runtime/params.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.params import bounded, check_bounds


class _Bad(CatuvacError, ValueError):
    pass


@dataclass(frozen=True)
class _Settings:
    rate: float = bounded(2.0, gt=0)
    share: float = bounded(0.5, ge=0, lt=1)
    wait_s: float = bounded(0.0, ge=0, le=60, unit="s", note="0 = at once")
    label: str = "free"  # not bounded: never checked

    def __post_init__(self) -> None:
        check_bounds(self, _Bad)


def test_values_inside_their_ranges_pass() -> None:
    assert _Settings(rate=1e-9, share=0.0, wait_s=60).wait_s == 60


@pytest.mark.parametrize("kwargs, message", [
    ({"rate": 0}, "rate must be a positive number, got 0"),
    ({"share": 1.0}, r"share must be in \[0, 1\), got 1.0"),
    ({"wait_s": 61}, r"wait_s must be in \[0, 60\] s \(0 = at once\), got 61"),
    ({"wait_s": float("nan")}, "wait_s must be .*, got nan"),
    ({"rate": float("inf")}, "rate must be a positive number, got inf"),
    ({"rate": True}, "rate must be a positive number, got True"),
    ({"rate": "2"}, "rate must be a positive number, got '2'"),
])
def test_a_value_out_of_range_names_the_setting_and_the_range(kwargs: dict, message: str) -> None:
    with pytest.raises(_Bad, match=f"^{message}$"):
        _Settings(**kwargs)
