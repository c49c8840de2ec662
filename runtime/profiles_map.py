"""Cluster id → hearing-aid profile name: the one map, with one set of rules.

Used by the runtime (:class:`~catuvac.runtime.clusterer.SceneClusterer` pools q(y|x) per
profile with it), the firmware simulator (``catuvac.firmware_sim.profiles.load_cluster_map``
is this class checked against a profile set), ``catuvac-map`` (which writes it), the demo and
the CLIs (``--map``). Clusters are found without labels, so which cluster is "speech in noise"
is decided after training (``catuvac-map``, or by listening) and written down as data:

.. code-block:: json

    {"_comment": "free text", "0": "quiet", "1": "speech-in-noise", "2": "noisy-transport", "default": "quiet"}

A fitted map (``catuvac-map``) also carries each cluster's **evidence**: how often each profile's
scenes fell into the cluster on the training split, as p(profile | cluster) with a small prior
(issue 11). The runtime then pools ``p(profile | x) = Σ_k q(k|x) · p(profile | k)`` instead of
summing q over each cluster's one profile, so a cluster that the training split saw half quiet
and half transport gives half-and-half evidence instead of a confident vote for one of them:

.. code-block:: json

    {"0": "quiet", "1": "noisy-transport", "evidence": {"0": {"quiet": 0.9, "noisy-transport": 0.1}}}

It may also carry **window-feature** models, p(feature | profile) on a grid, from the same
training windows: ``"level"`` — the window's level (dB re the front-end's unit,
:func:`catuvac.runtime.frontend.window_level_db`), which the per-window normalization removes,
so that a very quiet room is not read as vehicle rumble of the same spectral shape — and
``"level_spread"`` — how much the level moves inside the window
(:func:`~catuvac.runtime.frontend.window_level_spread_db`: one talker pauses, a crowd does not).
The runtime multiplies the pooled evidence by each likelihood:

.. code-block:: json

    {"level": {"grid_db": [-95.0, -60.0, -25.0], "likelihood": {"quiet": [0.02, 0.03, 0.01], "music": [0.001, 0.001, 0.04]}}}

Rules:

- keys are cluster ids — non-negative integers, or their decimal strings as JSON requires —
  in ``[0, K)``; a key starting with ``_`` is a comment; ``"default"`` (optional) names the
  profile of every cluster the map does not list;
- values are non-empty profile names; with a profile set (the simulator) every name must be
  one of its profiles;
- a map names at least one cluster or a default;
- ``"evidence"`` (optional) maps cluster ids to ``{profile: weight}`` rows (weights finite,
  ≥ 0, not all 0; normalized to sum 1 when read); a cluster without a row gives all its
  evidence to its profile, as a plain map does;
- ``"level"``, ``"level_spread"`` (optional, :data:`FEATURE_BLOCKS`): ``grid_db``, ≥ 2 strictly increasing finite values, and
  ``likelihood``, a row of as many finite values ≥ 0 per profile (not all 0); other keys in
  it (``bandwidth_db``, ``floor``: how it was fitted) are kept as notes;
- an unlisted cluster without a ``"default"`` gets :data:`DEFAULT_PROFILE` (``"default"``) in
  the runtime; where the names must be real profiles (the simulator) such a map must list
  every cluster of the model (:meth:`ProfileMap.validate_for` with ``complete=True``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from types import MappingProxyType
from typing import Any, Collection, Mapping

from catuvac.runtime.fileio import read_json_file

from .errors import CatuvacError

__all__ = ["ProfileMap", "ProfileMapError", "DEFAULT_PROFILE", "FEATURE_BLOCKS"]

# Name for clusters the map does not list: a neutral program a firmware always has.
DEFAULT_PROFILE = "default"
_HINT = 'expected {"0": "quiet", "1": "speech-in-noise", "default": "quiet"}'
# Window-feature models a map may carry: block name → what the runtime measures for it
# (catuvac.runtime.frontend.window_level_db / window_level_spread_db).
FEATURE_BLOCKS = ("level", "level_spread")


class ProfileMapError(CatuvacError, ValueError):
    """A cluster→profile map that cannot be used; the message says what to fix."""


class ProfileMap:
    """Validated, immutable cluster→profile map (see the module docstring for the rules)."""

    def __init__(
        self,
        mapping: Mapping[Any, Any],
        n_clusters: int | None = None,
        source: str = "profile map",
        known_profiles: Collection[str] | None = None,
    ) -> None:
        if not isinstance(mapping, Mapping):
            raise ProfileMapError(f"{source}: expected a JSON object like {{\"0\": \"quiet\", \"1\": \"speech\"}}, "
                                  f"got {type(mapping).__name__}")
        self.source = source
        default: str | None = None
        table: dict[int, str] = {}
        evidence: dict[int, dict[str, float]] = {}
        self._features: dict[str, dict[str, Any]] = {}
        for key, value in mapping.items():
            if isinstance(key, str) and key.startswith("_"):
                continue  # comment
            if key in FEATURE_BLOCKS:
                self._features[key] = _parse_feature(key, value, source, known_profiles)
                continue
            if key == "evidence":
                evidence = _parse_evidence(value, source, known_profiles)
                continue
            if key == "default":
                default = _check_name(value, source, "default", known_profiles)
                continue
            cluster = _parse_key(key, source)
            if cluster in table:
                raise ProfileMapError(f"{source}: cluster {cluster} is listed twice")
            table[cluster] = _check_name(value, source, str(key), known_profiles)
        if not table and default is None:
            raise ProfileMapError(f"{source}: the map is empty; map at least one cluster id to a profile")
        self.explicit_default = default is not None
        self.default = default if default is not None else DEFAULT_PROFILE
        self._table = dict(sorted(table.items()))
        self._evidence = dict(sorted(evidence.items()))
        if n_clusters is not None:
            self.validate_for(n_clusters)

    @classmethod
    def from_file(cls, path: str | os.PathLike, n_clusters: int | None = None,
                  known_profiles: Collection[str] | None = None) -> "ProfileMap":
        data = read_json_file(path, ProfileMapError, "profile map file", _HINT)
        return cls(data, n_clusters=n_clusters, source=str(Path(path)), known_profiles=known_profiles)

    @classmethod
    def load(
        cls,
        spec: "ProfileMap | Mapping[Any, Any] | str | os.PathLike",
        n_clusters: int | None = None,
        known_profiles: Collection[str] | None = None,
    ) -> "ProfileMap":
        """A map from a :class:`ProfileMap`, a dict, or a JSON file path."""
        if isinstance(spec, ProfileMap):
            if known_profiles is not None:
                spec = cls(spec.as_dict(), source=spec.source, known_profiles=known_profiles)
            if n_clusters is not None:
                spec.validate_for(n_clusters)
            return spec
        if isinstance(spec, Mapping):
            return cls(spec, n_clusters=n_clusters, known_profiles=known_profiles)
        if isinstance(spec, (str, os.PathLike)):
            return cls.from_file(spec, n_clusters=n_clusters, known_profiles=known_profiles)
        raise ProfileMapError(f"profile map must be a dict or a JSON file path, got {type(spec).__name__}")

    def validate_for(self, n_clusters: int, complete: bool = False) -> None:
        """Check the ids against a model of ``n_clusters``; ``complete``: every id must have a
        profile of its own or the map's explicit ``default``."""
        bad = sorted({k for k in [*self._table, *self._evidence] if k >= n_clusters})
        if bad:
            raise ProfileMapError(
                f"{self.source}: ids {bad} do not exist in a model with {n_clusters} clusters "
                f"(ids 0..{n_clusters - 1}): out of range"
            )
        missing = self.missing(n_clusters)
        if complete and missing:
            raise ProfileMapError(
                f"{self.source}: the model has {n_clusters} clusters but ids {missing} have no profile; "
                "add them or a \"default\" entry"
            )

    def missing(self, n_clusters: int) -> list[int]:
        """Ids in ``[0, n_clusters)`` with neither an entry nor an explicit ``default``."""
        if self.explicit_default:
            return []
        return [k for k in range(n_clusters) if k not in self._table]

    def profile_for(self, cluster: int) -> str:
        """The cluster's profile (the default — explicit or :data:`DEFAULT_PROFILE` — if unlisted)."""
        return self._table.get(int(cluster), self.default)

    def get(self, cluster: int) -> str | None:
        """The cluster's profile, or ``None`` if it is unlisted and the map has no ``default``."""
        return self._table.get(int(cluster), self.default if self.explicit_default else None)

    @property
    def mapping(self) -> Mapping[int, str]:
        return MappingProxyType(self._table)

    @property
    def has_evidence(self) -> bool:
        return bool(self._evidence)

    def evidence_for(self, cluster: int) -> dict[str, float]:
        """p(profile | cluster): the cluster's evidence row, or all of it on its profile."""
        row = self._evidence.get(int(cluster))
        return dict(row) if row is not None else {self.profile_for(cluster): 1.0}

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``"default"`` only when the map gives one, ``"evidence"`` when it has any)."""
        d: dict[str, Any] = {str(k): v for k, v in self._table.items()}
        if self.explicit_default:
            d["default"] = self.default
        if self._evidence:
            d["evidence"] = {str(k): dict(row) for k, row in self._evidence.items()}
        for name, block in self._features.items():
            d[name] = {**block, "grid_db": list(block["grid_db"]),
                       "likelihood": {p: list(v) for p, v in block["likelihood"].items()}}
        return d

    @property
    def features(self) -> dict[str, tuple[tuple[float, ...], dict[str, tuple[float, ...]]]]:
        """The window-feature models, {block: (grid, {profile: p(feature | profile) on the grid})}."""
        return {k: (tuple(b["grid_db"]), dict(b["likelihood"])) for k, b in self._features.items()}

    @property
    def level(self) -> tuple[tuple[float, ...], dict[str, tuple[float, ...]]] | None:
        """The level model (see :attr:`features`), or None."""
        return self.features.get("level")

    to_dict = as_dict

    @property
    def profiles(self) -> list[str]:
        """Distinct profile names, in cluster order, then the default, then those only in evidence rows."""
        seen: list[str] = []
        for v in [*self._table.values(), self.default, *(p for row in self._evidence.values() for p in row)]:
            if v not in seen:
                seen.append(v)
        return seen

    def __repr__(self) -> str:
        return f"ProfileMap({self.as_dict()!r})"


def _parse_key(key: Any, source: str) -> int:
    if isinstance(key, bool):
        raise ProfileMapError(f"{source}: key {key!r} is not a cluster id (use integers 0, 1, ...)")
    if isinstance(key, int):
        cluster = key
    elif isinstance(key, str) and key.isdigit():
        cluster = int(key)
    else:
        raise ProfileMapError(
            f"{source}: key {key!r} is not a cluster id; keys must be non-negative integers like \"0\", \"1\" "
            "(or \"default\" for unlisted clusters, \"_...\" for comments)"
        )
    if cluster < 0:
        raise ProfileMapError(f"{source}: key {key!r} is not a cluster id (a non-negative integer)")
    return cluster


def _parse_evidence(value: Any, source: str, known: Collection[str] | None) -> dict[int, dict[str, float]]:
    hint = 'e.g. "evidence": {"0": {"quiet": 0.9, "music": 0.1}}'
    if not isinstance(value, Mapping):
        raise ProfileMapError(f"{source}: \"evidence\" must map cluster ids to {{profile: weight}} rows ({hint})")
    out: dict[int, dict[str, float]] = {}
    for key, row in value.items():
        cluster = _parse_key(key, source)
        if not isinstance(row, Mapping) or not row:
            raise ProfileMapError(f"{source}: evidence for cluster {key!r} must be a non-empty {{profile: weight}} object ({hint})")
        weights: dict[str, float] = {}
        for name, w in row.items():
            name = _check_name(name, source, f"evidence {key}", known)
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                raise ProfileMapError(f"{source}: evidence weight of {name!r} for cluster {key!r} must be a finite number ≥ 0, got {w!r}")
            weights[name] = float(w)
        total = sum(weights.values())
        if total <= 0:
            raise ProfileMapError(f"{source}: evidence for cluster {key!r} is all zero; give at least one positive weight")
        out[cluster] = {n: w / total for n, w in weights.items()}
    return out


def _finite_row(value: Any, what: str, source: str, n: int | None = None) -> tuple[float, ...]:
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise ProfileMapError(f"{source}: {what} must be a list of numbers, got {value!r}")
    row = tuple(value)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in row):
        raise ProfileMapError(f"{source}: {what} must hold finite numbers only")
    if n is not None and len(row) != n:
        raise ProfileMapError(f"{source}: {what} has {len(row)} values for a grid of {n}")
    return tuple(float(v) for v in row)


def _parse_feature(block: str, value: Any, source: str, known: Collection[str] | None) -> dict[str, Any]:
    hint = f'"{block}": {{"grid_db": [-90, -60, -30], "likelihood": {{"quiet": [0.03, 0.02, 0.01], ...}}}}'
    if not isinstance(value, Mapping) or "grid_db" not in value or "likelihood" not in value:
        raise ProfileMapError(f"{source}: \"{block}\" must hold \"grid_db\" and \"likelihood\" ({hint}); "
                              "refit with catuvac-map, or delete the block")
    grid = _finite_row(value["grid_db"], f"{block} grid_db", source)
    if len(grid) < 2 or any(b <= a for a, b in zip(grid, grid[1:])):
        raise ProfileMapError(f"{source}: {block} grid_db must hold ≥ 2 strictly increasing values")
    lik = value["likelihood"]
    if not isinstance(lik, Mapping) or not lik:
        raise ProfileMapError(f"{source}: {block} likelihood must map profiles to rows ({hint})")
    rows: dict[str, tuple[float, ...]] = {}
    for name, row in lik.items():
        name = _check_name(name, source, f"{block} likelihood", known)
        r = _finite_row(row, f"{block} likelihood of {name!r}", source, len(grid))
        if min(r) < 0 or max(r) <= 0:
            raise ProfileMapError(f"{source}: {block} likelihood of {name!r} must be ≥ 0 and not all 0")
        rows[name] = r
    return {**{k: v for k, v in value.items() if k not in ("grid_db", "likelihood")}, "grid_db": grid, "likelihood": rows}


def _check_name(value: Any, source: str, key: str, known: Collection[str] | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProfileMapError(f"{source}: profile for {key!r} must be a non-empty string, got {value!r}")
    name = value.strip()
    if known is not None and name not in known:
        raise ProfileMapError(f"{source}: {key!r} maps to {name!r}, which is not a profile; available: {list(known)}")
    return name
