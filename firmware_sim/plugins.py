"""Plugin framework of the simulated hearing-aid audio core (modelled on openMHA's plugin chain).

- :class:`StreamSpec` describes the stream a plugin receives: sample rate, block size,
  channels and *domain* — ``"wave"`` (a block of samples) or ``"bands"`` (a :class:`BandFrame`,
  the spectrum of the current analysis frame plus per-band level and gain). Like openMHA's
  ``wave2spec`` / ``spec2wave``, the filterbank analysis turns wave into bands and the
  synthesis turns bands back into wave; band plugins in between only touch per-band gains.
- :class:`Param` is a descriptor: every parameter has a default, a valid range and a
  one-line description, and is checked when set (scalars, per-band vectors, or vectors).
- :class:`Plugin` has ``prepare(spec) -> out_spec`` (validate the stream once, allocate
  once), ``process(x) -> y`` (no allocation: numpy ``out=`` into buffers made in prepare)
  and ``reset()``.
- :class:`Chain` is an ordered list of plugins with the same interface; its
  ``algorithmic_delay_samples`` is the sum over its plugins.

Returned blocks are views of the plugin's own buffers: valid until the next ``process``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence, cast

import numpy as np

from catuvac.runtime.defaults import DSP_BLOCK_SIZE
from catuvac.runtime.errors import CatuvacError

__all__ = [
    "ParamError",
    "PrepareError",
    "Param",
    "StreamSpec",
    "BandLayout",
    "BandFrame",
    "Plugin",
    "Chain",
]


class ParamError(CatuvacError, ValueError):
    """A parameter value outside its range, of the wrong shape, or an unknown parameter name."""


class PrepareError(CatuvacError, ValueError):
    """A stream the plugin cannot run on (sample rate, block size, domain, band layout)."""


# --------------------------------------------------------------------------------------------
# Parameters


class Param:
    """A validated plugin parameter (descriptor).

    ``kind``: ``"scalar"`` (one float), ``"per_band"`` (a scalar, applied to every band, or one
    value per band) or ``"vector"`` (a free-length sequence, each element in range).
    ``structural`` parameters shape the buffers and may only be set before ``prepare``.
    """

    def __init__(
        self,
        default: Any,
        lo: float,
        hi: float,
        help: str,
        *,
        kind: str = "scalar",
        integer: bool = False,
        structural: bool = False,
        unit: str = "",
    ) -> None:
        if kind not in ("scalar", "per_band", "vector"):
            raise ValueError(f"Param kind must be scalar/per_band/vector, got {kind!r}")
        self.default = default
        self.lo = float(lo)
        self.hi = float(hi)
        self.help = help
        self.kind = kind
        self.integer = integer
        self.structural = structural
        self.unit = unit
        self.name = "?"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return (
            f"Param({self.name}: default={self.default!r}, range=[{self.lo:g}, {self.hi:g}]"
            f"{' ' + self.unit if self.unit else ''}, {self.kind}) — {self.help}"
        )

    def describe(self) -> dict:
        return {
            "default": self.default if not isinstance(self.default, tuple) else list(self.default),
            "range": [self.lo, self.hi],
            "unit": self.unit,
            "kind": self.kind,
            "help": self.help,
        }

    def validate(self, value: Any, *, where: str = "", n_bands: int | None = None) -> Any:
        """Return the checked value (float, int or float64 array); raise :class:`ParamError`."""
        label = f"{where}{'.' if where else ''}{self.name}"
        rng = f"[{self.lo:g}, {self.hi:g}]{' ' + self.unit if self.unit else ''}"
        if self.kind == "scalar":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ParamError(f"{label}: expected a number in {rng}, got {value!r}")
            v = float(value)
            if not math.isfinite(v) or not (self.lo <= v <= self.hi):
                raise ParamError(f"{label}: {value!r} is outside the valid range {rng} ({self.help})")
            if self.integer:
                if v != int(v):
                    raise ParamError(f"{label}: expected an integer, got {value!r}")
                return int(v)
            return v
        try:
            arr = np.array(value, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ParamError(f"{label}: expected numbers in {rng}, got {value!r}") from e
        if self.kind == "per_band":
            if arr.ndim > 1:
                raise ParamError(f"{label}: expected a number or one number per band, got shape {arr.shape}")
            if arr.ndim == 1 and n_bands is not None and arr.shape[0] != n_bands:
                raise ParamError(
                    f"{label}: got {arr.shape[0]} values but the filterbank has {n_bands} bands; "
                    "give one value per band or a single number for all bands"
                )
        elif arr.ndim != 1 or arr.shape[0] == 0:
            raise ParamError(f"{label}: expected a non-empty list of numbers, got {value!r}")
        flat = np.atleast_1d(arr)
        bad = ~np.isfinite(flat) | (flat < self.lo) | (flat > self.hi)
        if bad.any():
            i = int(np.argmax(bad))
            idx = f" (element {i})" if arr.ndim == 1 else ""
            raise ParamError(f"{label}: {flat[i]!r}{idx} is outside the valid range {rng} ({self.help})")
        if self.integer and np.any(flat != np.round(flat)):
            raise ParamError(f"{label}: expected integers, got {value!r}")
        if arr.ndim == 0:
            return float(arr)
        arr.setflags(write=False)
        return arr

    # descriptor protocol
    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        v = obj._values.get(self.name, self.default)
        if isinstance(v, np.ndarray) and v.flags.writeable:
            v = v.view()
            v.setflags(write=False)  # change parameters through set_param / assignment only
        return v

    def __set__(self, obj: "Plugin", value: Any) -> None:
        obj.set_param(self.name, value)


# --------------------------------------------------------------------------------------------
# Stream description


@dataclass(frozen=True)
class BandLayout:
    """Frequency layout of the analysis filterbank (filled in by the analysis plugin)."""

    window_len: int
    edges_hz: tuple[float, ...]
    centres_hz: tuple[float, ...]
    n_bins: int

    @property
    def n_bands(self) -> int:
        return len(self.centres_hz)


@dataclass(frozen=True)
class StreamSpec:
    """What a plugin receives: ``sample_rate`` Hz, ``block_size`` samples per block, mono."""

    sample_rate: int = 16000  # hearing-aid cores run at 16–24 kHz
    block_size: int = DSP_BLOCK_SIZE
    n_channels: int = 1
    domain: str = "wave"
    bands: BandLayout | None = field(default=None, compare=True)

    def __post_init__(self) -> None:
        if not isinstance(self.sample_rate, (int, np.integer)) or not (8000 <= self.sample_rate <= 48000):
            raise PrepareError(f"sample_rate must be an integer in [8000, 48000] Hz, got {self.sample_rate!r}")
        if not isinstance(self.block_size, (int, np.integer)) or not (4 <= self.block_size <= 1024):
            raise PrepareError(f"block_size must be an integer in [4, 1024] samples, got {self.block_size!r}")
        ms = 1000.0 * self.block_size / self.sample_rate
        if not (0.25 <= ms <= 16.0):
            raise PrepareError(
                f"block of {self.block_size} samples at {self.sample_rate} Hz is {ms:.2f} ms; a hearing-aid "
                "core uses blocks of about 1–3 ms (allowed 0.25–16 ms) — pick another block_size"
            )
        if self.n_channels != 1:
            raise PrepareError(f"only mono streams are simulated (n_channels=1), got {self.n_channels}")
        if self.domain not in ("wave", "bands"):
            raise PrepareError(f"domain must be 'wave' or 'bands', got {self.domain!r}")
        if self.domain == "bands" and self.bands is None:
            raise PrepareError("a 'bands' stream needs a BandLayout")

    @property
    def block_ms(self) -> float:
        return 1000.0 * self.block_size / self.sample_rate


class BandFrame:
    """The band-domain signal passed between analysis and synthesis (one per block).

    ``X``: the analysis spectrum as ``[Re(X_0..X_{n-1}), Im(X_0..X_{n-1})]`` (real layout, so
    the filterbank is two real matrix products); ``level_db``: input level per band in dB SPL;
    ``gain_db``: the per-band gain the band plugins accumulate (reset to 0 by the analysis).
    """

    __slots__ = ("X", "level_db", "gain_db", "layout")

    def __init__(self, layout: BandLayout) -> None:
        self.layout = layout
        self.X = np.zeros(2 * layout.n_bins)
        self.level_db = np.zeros(layout.n_bands)
        self.gain_db = np.zeros(layout.n_bands)


# --------------------------------------------------------------------------------------------
# Plugins


class Plugin:
    """Base class. Subclasses declare :class:`Param` attributes and implement the hooks.

    ``_prepare(spec) -> out_spec`` allocates; ``_update(name)`` recomputes derived coefficients
    after a parameter change (called only once prepared); ``process`` must not allocate.
    """

    input_domain: str = "wave"

    def __init__(self, name: str | None = None, **params: Any) -> None:
        self.name = name or type(self).__name__.lower()
        self._values: dict[str, Any] = {}
        self._prepared = False
        self.spec: StreamSpec | None = None
        self.out_spec: StreamSpec | None = None
        specs = self.param_specs()
        for k, v in params.items():
            if k not in specs:
                raise ParamError(
                    f"{self.name}: unknown parameter {k!r}; valid parameters: {', '.join(sorted(specs)) or '(none)'}"
                )
            self.set_param(k, v)

    # ---- parameters
    @classmethod
    def param_specs(cls) -> dict[str, Param]:
        out: dict[str, Param] = {}
        for klass in reversed(cls.__mro__):
            for k, v in vars(klass).items():
                if isinstance(v, Param):
                    out[k] = v
        return out

    @property
    def n_bands(self) -> int | None:
        if self.spec is not None and self.spec.bands is not None:
            return self.spec.bands.n_bands
        return None

    def get_params(self) -> dict[str, Any]:
        out = {}
        for k in self.param_specs():
            v = getattr(self, k)
            out[k] = v.tolist() if isinstance(v, np.ndarray) else (list(v) if isinstance(v, tuple) else v)
        return out

    def set_param(self, name: str, value: Any, *, validate: bool = True) -> None:
        """Set a parameter (checked against its range). ``validate=False`` is the fast path for
        values already known valid (e.g. convex combinations of two validated profiles)."""
        specs = self.param_specs()
        if name not in specs:
            raise ParamError(
                f"{self.name}: unknown parameter {name!r}; valid parameters: {', '.join(sorted(specs)) or '(none)'}"
            )
        p = specs[name]
        if validate:
            if p.structural and self._prepared:
                raise ParamError(
                    f"{self.name}.{name} shapes the plugin's buffers and cannot change after prepare(); "
                    "build a new plugin with the new value"
                )
            value = p.validate(value, where=self.name, n_bands=self.n_bands)
        if self._prepared and p.kind == "per_band":
            cur = self._values.get(name)
            if isinstance(cur, np.ndarray) and cur.flags.writeable:
                np.copyto(cur, value)  # in place: no allocation on the cross-fade path
            else:
                self._values[name] = np.array(np.broadcast_to(value, (cast(int, self.n_bands),)), dtype=np.float64)
        else:
            self._values[name] = value
        if self._prepared:
            self._update(name)

    def _band(self, name: str) -> np.ndarray:
        """The per-band parameter as a writable (n_bands,) array (made at prepare)."""
        return self._values[name]

    # ---- lifecycle
    def prepare(self, spec: StreamSpec) -> StreamSpec:
        if spec.domain != self.input_domain:
            raise PrepareError(
                f"{self.name} expects a '{self.input_domain}' stream but gets '{spec.domain}'; "
                "check the plugin order (analysis → band plugins → synthesis → wave plugins)"
            )
        self._prepared = False
        self.spec = spec
        out = self._prepare(spec)
        self.out_spec = out
        # broadcast per-band parameters now that the band count is known
        for k, p in self.param_specs().items():
            if p.kind == "per_band":
                v = self._values.get(k, p.default)
                v = p.validate(v, where=self.name, n_bands=self.n_bands)
                self._values[k] = np.array(np.broadcast_to(v, (cast(int, self.n_bands),)), dtype=np.float64)
        self._prepared = True
        for k in self.param_specs():
            self._update(k)
        self.reset()
        return out

    def _prepare(self, spec: StreamSpec) -> StreamSpec:
        return spec

    def _update(self, name: str) -> None:
        pass

    def reset(self) -> None:
        pass

    def process(self, x: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def algorithmic_delay_samples(self) -> int:
        return 0

    @property
    def prepared(self) -> bool:
        return self._prepared

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, {self.get_params()})"


class Chain(Plugin):
    """An ordered list of plugins run one after the other on each block (wave in, wave out)."""

    def __init__(self, plugins: Sequence[Plugin], name: str = "chain") -> None:
        super().__init__(name=name)
        plugins = list(plugins)
        if not plugins:
            raise ParamError("a Chain needs at least one plugin")
        names = [p.name for p in plugins]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ParamError(f"plugin names must be unique in a chain; repeated: {sorted(dup)}")
        self.plugins: list[Plugin] = plugins
        self._procs: list = []
        self._block_size = 0

    def __getitem__(self, name: str) -> Plugin:
        for p in self.plugins:
            if p.name == name:
                return p
        raise KeyError(f"no plugin named {name!r} in the chain; plugins: {[p.name for p in self.plugins]}")

    def __iter__(self) -> Iterable[Plugin]:
        return iter(self.plugins)

    def prepare(self, spec: StreamSpec) -> StreamSpec:
        if spec.domain != "wave":
            raise PrepareError("a Chain takes a 'wave' stream")
        s = spec
        for p in self.plugins:
            s = p.prepare(s)
        if s.domain != "wave":
            raise PrepareError(
                f"the chain ends in the '{s.domain}' domain; add a synthesis plugin after the band plugins"
            )
        self.spec = spec
        self.out_spec = s
        self._procs = [p.process for p in self.plugins]
        self._block_size = spec.block_size
        self._prepared = True
        return s

    def reset(self) -> None:
        for p in self.plugins:
            p.reset()

    def process(self, block: np.ndarray) -> np.ndarray:
        """One block (``block_size`` float samples) in, one block out (a view, valid until the next call)."""
        if not self._prepared:
            raise PrepareError("call chain.prepare(StreamSpec(...)) before process()")
        if block.shape != (self._block_size,):
            raise ValueError(
                f"expected a block of shape ({self._block_size},), got {block.shape}; "
                "split the signal into blocks of block_size samples"
            )
        s = float(np.add.reduce(block))  # cheap finiteness check: one reduction per block
        if not math.isfinite(s):
            raise ValueError(
                "input block contains NaN or Inf samples; the DSP cannot process them — "
                "check the source (corrupt file or a failed upstream computation)"
            )
        x: Any = block
        for proc in self._procs:
            x = proc(x)
        return x

    @property
    def algorithmic_delay_samples(self) -> int:
        return int(sum(p.algorithmic_delay_samples for p in self.plugins))

    @property
    def band_layout(self) -> BandLayout | None:
        for p in self.plugins:
            if p.out_spec is not None and p.out_spec.bands is not None:
                return p.out_spec.bands
        return None

    @property
    def band_frame(self) -> BandFrame | None:
        """The analysis plugin's :class:`BandFrame` (its ``gain_db`` is the last applied gain)."""
        for p in self.plugins:
            f = getattr(p, "frame", None)
            if isinstance(f, BandFrame):
                return f
        return None

    def get_params(self) -> dict[str, Any]:
        return {p.name: p.get_params() for p in self.plugins}

    def describe(self) -> dict[str, dict[str, dict]]:
        """Every plugin's parameters with default, range, unit and one-line help."""
        return {p.name: {k: v.describe() for k, v in p.param_specs().items()} for p in self.plugins}
