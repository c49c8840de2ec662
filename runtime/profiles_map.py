"""Cluster id → hearing-aid profile name.

Clusters are found without labels, so which cluster is "speech in noise" is decided after
training (by listening, or by matching to a labelled timeline) and written down as data:

.. code-block:: json

    {"0": "quiet", "1": "speech-in-noise", "2": "traffic", "default": "general"}

Keys are cluster ids (integers, or their decimal strings as JSON requires) in ``[0, K)``;
values are non-empty profile names. The optional key ``"default"`` names the profile used for
clusters the map does not list; without it that is :data:`DEFAULT_PROFILE` (``"default"``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from catuvac.runtime.fileio import read_json_file

from .errors import CatuvacError

__all__ = ["ProfileMap", "ProfileMapError", "DEFAULT_PROFILE"]

# Name for clusters the map does not list: a neutral program a firmware always has.
DEFAULT_PROFILE = "default"


class ProfileMapError(CatuvacError, ValueError):
    """A cluster→profile map that cannot be used; the message says what to fix."""


class ProfileMap:
    """Validated, immutable cluster→profile map."""

    def __init__(self, mapping: Mapping[Any, Any], n_clusters: int | None = None, source: str = "profile map") -> None:
        if not isinstance(mapping, Mapping):
            raise ProfileMapError(
                f"{source}: expected an object like {{\"0\": \"quiet\", \"1\": \"speech\"}}, got {type(mapping).__name__}"
            )
        self.source = source
        default = DEFAULT_PROFILE
        table: dict[int, str] = {}
        for key, value in mapping.items():
            if key == "default":
                default = _check_name(value, source, "default")
                continue
            cluster = _parse_key(key, source)
            if cluster in table:
                raise ProfileMapError(f"{source}: cluster {cluster} is listed twice")
            table[cluster] = _check_name(value, source, str(key))
        self.default = default
        self._table = dict(sorted(table.items()))
        if n_clusters is not None:
            self.validate_for(n_clusters)

    @classmethod
    def from_file(cls, path: str | os.PathLike, n_clusters: int | None = None) -> "ProfileMap":
        data = read_json_file(path, ProfileMapError, "profile map file", 'expected {"0": "quiet", ...}')
        return cls(data, n_clusters=n_clusters, source=str(Path(path)))

    @classmethod
    def load(cls, spec: "ProfileMap | Mapping[Any, Any] | str | os.PathLike", n_clusters: int | None = None) -> "ProfileMap":
        """A map from a :class:`ProfileMap`, a dict, or a JSON file path."""
        if isinstance(spec, ProfileMap):
            if n_clusters is not None:
                spec.validate_for(n_clusters)
            return spec
        if isinstance(spec, Mapping):
            return cls(spec, n_clusters=n_clusters)
        if isinstance(spec, (str, os.PathLike)):
            return cls.from_file(spec, n_clusters=n_clusters)
        raise ProfileMapError(f"profile map must be a dict or a JSON file path, got {type(spec).__name__}")

    def validate_for(self, n_clusters: int) -> None:
        bad = [k for k in self._table if k >= n_clusters]
        if bad:
            raise ProfileMapError(
                f"{self.source}: cluster id(s) {bad} out of range: the model has {n_clusters} clusters "
                f"(ids 0..{n_clusters - 1})"
            )

    def profile_for(self, cluster: int) -> str:
        return self._table.get(int(cluster), self.default)

    def as_dict(self) -> dict[str, str]:
        d = {str(k): v for k, v in self._table.items()}
        d["default"] = self.default
        return d

    @property
    def profiles(self) -> list[str]:
        """Distinct profile names, in cluster order, then the default."""
        seen: list[str] = []
        for v in list(self._table.values()) + [self.default]:
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
    elif isinstance(key, str) and key.strip().isdigit():
        cluster = int(key.strip())
    else:
        raise ProfileMapError(
            f"{source}: key {key!r} is not a cluster id; keys must be integers like \"0\", \"1\" "
            "(or \"default\" for unlisted clusters)"
        )
    if cluster < 0:
        raise ProfileMapError(f"{source}: cluster id {cluster} is negative")
    return cluster


def _check_name(value: Any, source: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProfileMapError(f"{source}: profile for {key!r} must be a non-empty string, got {value!r}")
    return value.strip()
