"""Profiles (named, immutable parameter sets), the cluster→profile map and the cross-fading switcher.

Profile file schema (JSON; the package ships ``default_profiles.json``)::

    {
      "schema_version": 1,
      "description": "free text (optional)",
      "profiles": {
        "<name>": {                              # name: letters, digits, '-', '_'
          "description": "free text (optional)",
          "gain_offset_db": BAND_VALUE,          # dB on top of the NAL-R prescription, −30…20
          "compression": {                       # multiband WDRC (see dsp.Wdrc)
            "threshold_db_spl": BAND_VALUE,      # 20…110 dB SPL input band level
            "ratio": BAND_VALUE,                 # 1…10
            "attack_ms": BAND_VALUE,             # 0.5…500 ms
            "release_ms": BAND_VALUE             # 5…5000 ms
          },
          "noise_reduction": NUMBER              # strength 0 (off) … 1 (full)
        },
        ...
      }
    }

    BAND_VALUE is one of
      - a number: the same value in every band;
      - a list with one number per band (must match the filterbank's band count);
      - an object {"<freq Hz>": number, ...}: points on a frequency curve, interpolated
        linearly on log-frequency to the band centres (flat beyond the first / last point) —
        the layout-independent form the shipped file uses.

Every field is optional and falls back to the plugin parameter's default; unknown fields
are errors (typos must not pass silently). Ranges are those of the plugins' ``Param``
declarations — one source of truth. Errors name the file, the profile and the field.

Cluster→profile map: :class:`catuvac.runtime.profiles_map.ProfileMap` (one class, one set of
rules for the runtime and the simulator), checked here against the profile set: every named
profile must exist. With no map, cluster ``k`` gets the ``k mod P``-th profile of the set in
file order (:func:`default_cluster_map`).

Switching: :class:`ProfileSwitcher` cross-fades every profile parameter linearly from its
current value to the new profile's over ``crossfade_s`` (default 1.5 s, the ReSound figure),
one step per block boundary. A new request during a fade starts from wherever the fade is.
Gains move in dB, so the level never passes through silence.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence, TypeAlias, Union

import numpy as np

from catuvac.runtime.defaults import CROSSFADE_S
from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.fileio import read_json_file
from catuvac.runtime.profiles_map import ProfileMap, ProfileMapError

from .dsp import InsertionGain, NoiseReduction, Wdrc
from .plugins import Chain, Param

__all__ = [
    "ProfileError",
    "FreqCurve",
    "Profile",
    "PreparedProfile",
    "ProfileSet",
    "PROFILE_FIELDS",
    "ClusterMap",
    "default_cluster_map",
    "load_cluster_map",
    "ProfileSwitcher",
]

SCHEMA_VERSION = 1


class ProfileError(CatuvacError, ValueError):
    """A profile file, profile or cluster map that cannot be used (message names file/profile/field)."""


@dataclass(frozen=True)
class FreqCurve:
    """A per-frequency curve ``((freq_hz, value), ...)``, resolved to band centres on log-frequency."""

    points: tuple[tuple[float, float], ...]

    def at(self, centres_hz: Sequence[float]) -> np.ndarray:
        f = np.log([p[0] for p in self.points])
        v = [p[1] for p in self.points]
        return np.interp(np.log(np.asarray(centres_hz, float)), f, v)


BandValue = Union[float, tuple, FreqCurve]

# profile field → (plugin name in the default chain, parameter, its Param declaration)
PROFILE_FIELDS: Mapping[str, tuple[str, str, Param]] = MappingProxyType({
    "gain_offset_db": ("gain", "offset_db", InsertionGain.offset_db),
    "compression.threshold_db_spl": ("wdrc", "threshold_db", Wdrc.threshold_db),
    "compression.ratio": ("wdrc", "ratio", Wdrc.ratio),
    "compression.attack_ms": ("wdrc", "attack_ms", Wdrc.attack_ms),
    "compression.release_ms": ("wdrc", "release_ms", Wdrc.release_ms),
    "noise_reduction": ("nr", "strength", NoiseReduction.strength),
})
_COMPRESSION_KEYS = ("threshold_db_spl", "ratio", "attack_ms", "release_ms")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x))


def _parse_band_value(raw: Any, where: str, p: Param) -> BandValue:
    rng = f"[{p.lo:g}, {p.hi:g}]"
    if _is_num(raw):
        v = float(raw)
        if not p.lo <= v <= p.hi:
            raise ProfileError(f"{where}: {raw} is outside the valid range {rng} ({p.help})")
        return v
    if isinstance(raw, (list, tuple)):
        if not raw or not all(_is_num(x) for x in raw):
            raise ProfileError(f"{where}: a per-band list must hold numbers, got {raw!r}")
        for i, x in enumerate(raw):
            if not p.lo <= float(x) <= p.hi:
                raise ProfileError(f"{where}[{i}]: {x} is outside the valid range {rng} ({p.help})")
        return tuple(float(x) for x in raw)
    if isinstance(raw, Mapping):
        pts = []
        for k, x in raw.items():
            try:
                f = float(k)
            except ValueError:
                raise ProfileError(f"{where}: key {k!r} is not a frequency in Hz") from None
            if not (20.0 <= f <= 24000.0):
                raise ProfileError(f"{where}: frequency {k} Hz is outside 20–24000 Hz")
            if not _is_num(x):
                raise ProfileError(f"{where}[{k}]: expected a number, got {x!r}")
            if not p.lo <= float(x) <= p.hi:
                raise ProfileError(f"{where}[{k} Hz]: {x} is outside the valid range {rng} ({p.help})")
            pts.append((f, float(x)))
        if not pts:
            raise ProfileError(f"{where}: a frequency curve needs at least one point")
        pts.sort()
        if len({f for f, _ in pts}) != len(pts):
            raise ProfileError(f"{where}: repeated frequency in {raw!r}")
        return FreqCurve(tuple(pts))
    raise ProfileError(
        f"{where}: expected a number, a list with one number per band, or an object "
        f"{{\"<freq Hz>\": number}}, got {raw!r}"
    )


@dataclass(frozen=True)
class Profile:
    """One named, immutable parameter set (see the module docstring for the fields)."""

    name: str
    description: str = ""
    gain_offset_db: BandValue = 0.0
    threshold_db_spl: BandValue = float(Wdrc.threshold_db.default)
    ratio: BandValue = float(Wdrc.ratio.default)
    attack_ms: BandValue = float(Wdrc.attack_ms.default)
    release_ms: BandValue = float(Wdrc.release_ms.default)
    noise_reduction: float = 0.0

    @classmethod
    def from_dict(cls, name: str, d: Any, source: str = "profiles") -> "Profile":
        where = f"{source}: profile {name!r}"
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ProfileError(f"{source}: profile name {name!r} must be letters, digits, '-' or '_'")
        if not isinstance(d, Mapping):
            raise ProfileError(f"{where}: expected an object of fields, got {d!r}")
        allowed = {"description", "gain_offset_db", "compression", "noise_reduction"}
        unknown = set(d) - allowed
        if unknown:
            raise ProfileError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        kw: dict[str, Any] = {"name": name}
        if "description" in d:
            if not isinstance(d["description"], str):
                raise ProfileError(f"{where}, field 'description': expected text")
            kw["description"] = d["description"]
        if "gain_offset_db" in d:
            kw["gain_offset_db"] = _parse_band_value(
                d["gain_offset_db"], f"{where}, field 'gain_offset_db'", InsertionGain.offset_db
            )
        comp = d.get("compression", {})
        if not isinstance(comp, Mapping):
            raise ProfileError(f"{where}, field 'compression': expected an object with {list(_COMPRESSION_KEYS)}")
        unknown = set(comp) - set(_COMPRESSION_KEYS)
        if unknown:
            raise ProfileError(
                f"{where}, field 'compression': unknown key(s) {sorted(unknown)}; allowed: {list(_COMPRESSION_KEYS)}"
            )
        for k in _COMPRESSION_KEYS:
            if k in comp:
                kw[k] = _parse_band_value(comp[k], f"{where}, field 'compression.{k}'", PROFILE_FIELDS[f"compression.{k}"][2])
        if "noise_reduction" in d:
            v = d["noise_reduction"]
            p = NoiseReduction.strength
            if not _is_num(v) or not p.lo <= float(v) <= p.hi:
                raise ProfileError(f"{where}, field 'noise_reduction': {v!r} must be a number in [0, 1] ({p.help})")
            kw["noise_reduction"] = float(v)
        return cls(**kw)

    def field_value(self, field: str) -> BandValue:
        return getattr(self, field.split(".")[-1])

    def resolve(self, centres_hz: Sequence[float]) -> "PreparedProfile":
        """Per-band arrays for a filterbank with these band centres (validated)."""
        nb = len(centres_hz)
        vals: dict[tuple[str, str], np.ndarray] = {}
        for field, (plug, param, p) in PROFILE_FIELDS.items():
            raw = self.field_value(field)
            if isinstance(raw, FreqCurve):
                arr = raw.at(centres_hz)
            elif isinstance(raw, tuple):
                if len(raw) != nb:
                    raise ProfileError(
                        f"profile {self.name!r}, field {field!r}: {len(raw)} values given but the filterbank has "
                        f"{nb} bands; give {nb} values, one number, or a {{\"<freq Hz>\": value}} curve"
                    )
                arr = np.asarray(raw, float)
            else:
                arr = np.full(nb if p.kind == "per_band" else 1, float(raw))
            if p.kind != "per_band":
                arr = arr[:1]
            arr = np.array(arr, dtype=np.float64)
            arr.setflags(write=False)
            vals[(plug, param)] = arr
        return PreparedProfile(self.name, MappingProxyType(vals))

    def to_dict(self) -> dict:
        def enc(v: BandValue) -> Any:
            if isinstance(v, FreqCurve):
                return {f"{f:g}": x for f, x in v.points}
            return list(v) if isinstance(v, tuple) else v

        return {
            "description": self.description,
            "gain_offset_db": enc(self.gain_offset_db),
            "compression": {k: enc(getattr(self, k)) for k in _COMPRESSION_KEYS},
            "noise_reduction": self.noise_reduction,
        }


@dataclass(frozen=True)
class PreparedProfile:
    """A profile resolved to per-band arrays for one band layout (read-only arrays)."""

    name: str
    values: Mapping[tuple[str, str], np.ndarray]


@dataclass(frozen=True)
class ProfileSet:
    """An ordered, immutable set of profiles with unique names."""

    profiles: tuple[Profile, ...]
    source: str = "<memory>"

    def __post_init__(self) -> None:
        if not self.profiles:
            raise ProfileError(f"{self.source}: the profile set is empty; define at least one profile")
        names = [p.name for p in self.profiles]
        if len(set(names)) != len(names):
            raise ProfileError(f"{self.source}: repeated profile names {names}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.profiles)

    def __getitem__(self, name: str) -> Profile:
        for p in self.profiles:
            if p.name == name:
                return p
        raise ProfileError(f"no profile named {name!r} in {self.source}; available: {list(self.names)}")

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __len__(self) -> int:
        return len(self.profiles)

    @classmethod
    def from_dict(cls, d: Any, source: str = "<memory>") -> "ProfileSet":
        if not isinstance(d, Mapping):
            raise ProfileError(f"{source}: expected a JSON object with 'schema_version' and 'profiles'")
        unknown = set(d) - {"schema_version", "description", "profiles"}
        if unknown:
            raise ProfileError(f"{source}: unknown top-level field(s) {sorted(unknown)}")
        ver = d.get("schema_version")
        if ver != SCHEMA_VERSION:
            raise ProfileError(f"{source}: schema_version must be {SCHEMA_VERSION}, got {ver!r}")
        profs = d.get("profiles")
        if not isinstance(profs, Mapping) or not profs:
            raise ProfileError(f"{source}: 'profiles' must be a non-empty object of name → profile")
        return cls(tuple(Profile.from_dict(n, v, source) for n, v in profs.items()), source)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ProfileSet":
        return cls.from_dict(read_json_file(path, ProfileError, "profile file"), str(Path(path)))

    @classmethod
    def default(cls) -> "ProfileSet":
        """The profile set shipped with the package (``default_profiles.json``)."""
        text = resources.files("catuvac.firmware_sim").joinpath("default_profiles.json").read_text()
        return cls.from_dict(json.loads(text), "default_profiles.json")

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "profiles": {p.name: p.to_dict() for p in self.profiles}}

    def prepare(self, centres_hz: Sequence[float]) -> dict[str, PreparedProfile]:
        return {p.name: p.resolve(centres_hz) for p in self.profiles}


# --------------------------------------------------------------------------------------------
# Cluster → profile map


# One map class with one set of rules for the runtime and the simulator (catuvac.runtime.profiles_map);
# here it is checked against the profile set, so every id must have a real profile.
ClusterMap: TypeAlias = ProfileMap


def default_cluster_map(n_clusters: int, profiles: ProfileSet) -> ClusterMap:
    """Cluster ``k`` → the ``k mod P``-th profile (file order). Clusters are unlabelled, so any
    fixed assignment is arbitrary; ``catuvac-map`` fits a real one on labelled training clips."""
    if n_clusters < 1:
        raise ProfileError(f"n_clusters must be ≥ 1, got {n_clusters}")
    names = profiles.names
    return ProfileMap({k: names[k % len(names)] for k in range(n_clusters)}, source="default map")


class _PendingMap(ProfileMap):
    """No map yet: the simulator fills in :func:`default_cluster_map` once the classifier reveals K."""

    def __init__(self) -> None:
        self.source, self.explicit_default, self.default = "none", False, ""
        self._table: Any = {}
        self._evidence: Any = {}
        self._features: Any = {}

    def __bool__(self) -> bool:
        return False


def load_cluster_map(
    src: str | os.PathLike | Mapping | ClusterMap | None, profiles: ProfileSet, n_clusters: int | None = None
) -> ClusterMap:
    """Read and validate a cluster→profile map (JSON file path, dict or map) against ``profiles``.

    The rules are :mod:`catuvac.runtime.profiles_map`'s; every profile named must be in
    ``profiles``, and with ``n_clusters`` every id must have one (or the map a ``"default"``).
    ``None`` with a known ``n_clusters`` gives :func:`default_cluster_map`; ``None`` without
    gives an empty, pending map (the simulator fills it in once the classifier reveals K).
    """
    if src is None:
        return default_cluster_map(n_clusters, profiles) if n_clusters else _PendingMap()
    try:
        cmap = ProfileMap.load(src, known_profiles=profiles.names)
        if n_clusters is not None:
            cmap.validate_for(n_clusters, complete=True)
    except ProfileMapError as e:
        raise ProfileError(str(e)) from None
    return cmap


# --------------------------------------------------------------------------------------------
# Switching


class ProfileSwitcher:
    """Applies profiles to a prepared chain and cross-fades between them at block boundaries."""

    def __init__(self, chain: Chain, profiles: ProfileSet, initial: str | None = None, crossfade_s: float = CROSSFADE_S):
        if not chain.prepared or chain.band_layout is None or chain.spec is None:
            raise ProfileError("prepare the chain (with a filterbank) before creating a ProfileSwitcher")
        if not (_is_num(crossfade_s) and 0.0 <= crossfade_s <= 10.0):
            raise ProfileError(f"crossfade_s must be in [0, 10] s, got {crossfade_s!r}")
        self.chain = chain
        self.profiles = profiles
        self.crossfade_s = float(crossfade_s)
        self.prepared = profiles.prepare(chain.band_layout.centres_hz)
        self._targets = []
        keys = list(next(iter(self.prepared.values())).values.keys())
        for plug, param in keys:
            try:
                plugin = chain[plug]
            except KeyError:
                continue  # the chain has no such plugin: the profile field has nothing to drive
            scalar = plugin.param_specs()[param].kind != "per_band"
            self._targets.append((plugin, param, scalar))
        self._keys = [(t[0].name, t[1]) for t in self._targets]
        self._cur = [np.zeros_like(self.prepared[profiles.names[0]].values[k]) for k in self._keys]
        self._from = [c.copy() for c in self._cur]
        self._diff = [c.copy() for c in self._cur]
        B, sr = chain.spec.block_size, chain.spec.sample_rate
        # the fade takes a whole number of blocks (integer count: no float drift in alpha)
        self.fade_blocks = max(1, math.ceil(self.crossfade_s * sr / B - 1e-9))
        self._k = self.fade_blocks
        self.alpha = 1.0
        self.fading = False
        self.active = initial if initial is not None else profiles.names[0]
        self._apply_exact(self.active)

    def _apply_exact(self, name: str) -> None:
        vals = self.prepared[name].values
        for (plugin, param, scalar), key, cur in zip(self._targets, self._keys, self._cur):
            np.copyto(cur, vals[key])
            plugin.set_param(param, float(cur[0]) if scalar else cur, validate=False)

    def reset(self, name: str | None = None) -> None:
        """Apply profile ``name`` (default: the active one) at once, with no fade."""
        name = self.active if name is None else name
        if name not in self.prepared:
            raise ProfileError(f"no profile named {name!r}; available: {list(self.prepared)}")
        self.active = name
        self.alpha = 1.0
        self._k = self.fade_blocks
        self.fading = False
        self._apply_exact(name)

    def request(self, name: str) -> bool:
        """Start a cross-fade to profile ``name`` (applied from the next block). Returns whether a
        fade started (False if it already is, or is fading to, that profile)."""
        if name not in self.prepared:
            raise ProfileError(f"no profile named {name!r}; available: {list(self.prepared)}")
        if name == self.active:
            return False
        self.active = name
        vals = self.prepared[name].values
        for key, cur, frm, diff in zip(self._keys, self._cur, self._from, self._diff):
            np.copyto(frm, cur)
            np.subtract(vals[key], frm, out=diff)
        self.alpha = 0.0
        self._k = 0
        self.fading = True
        return True

    def step(self) -> None:
        """Advance the fade by one block (call once per block, before processing it)."""
        if not self.fading:
            return
        self._k += 1
        a = self._k / self.fade_blocks
        if self._k >= self.fade_blocks:
            self.alpha = 1.0
            self.fading = False
            self._apply_exact(self.active)
            return
        self.alpha = a
        for (plugin, param, scalar), cur, frm, diff in zip(self._targets, self._cur, self._from, self._diff):
            np.multiply(diff, a, out=cur)
            np.add(cur, frm, out=cur)
            plugin.set_param(param, float(cur[0]) if scalar else cur, validate=False)

    def current_values(self) -> dict[tuple[str, str], np.ndarray]:
        """The parameter values now in the chain (a copy)."""
        return {k: c.copy() for k, c in zip(self._keys, self._cur)}
