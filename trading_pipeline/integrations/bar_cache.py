"""An on-disk cache of fetched bars, one Parquet file per (provider, request, symbol), with a time to live.

A provider asks the cache symbol by symbol, fetches only the misses in one request and stores every
symbol it asked for — an empty result too, so a symbol the provider does not have is not asked again
within the TTL. Writes go to a temporary file renamed into place, so a crash never leaves a torn entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa

log = logging.getLogger(__name__)


class BarCache:
    """Entries older than ``ttl_s`` (by file modification time) are misses; ``ttl_s=0`` disables the cache."""

    def __init__(self, directory: str | Path, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        if ttl_s < 0:
            raise ValueError(f"ttl_s must be non-negative, got {ttl_s}")
        self.directory = Path(directory)
        self.ttl_s = ttl_s
        self._clock = clock
        self.hits = 0
        self.misses = 0

    def _path(self, key: Mapping[str, str]) -> Path:
        text = json.dumps(dict(key), sort_keys=True)
        return self.directory / f"{hashlib.sha1(text.encode()).hexdigest()}.parquet"

    def get(self, key: Mapping[str, str]) -> pd.DataFrame | None:
        """The cached frame, or None when absent, expired or unreadable (an unreadable entry is deleted)."""
        if self.ttl_s == 0:
            return None
        path = self._path(key)
        try:
            age = self._clock() - path.stat().st_mtime
        except FileNotFoundError:
            self.misses += 1
            return None
        if age > self.ttl_s:
            self.misses += 1
            return None
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError, pa.ArrowException) as exc:
            log.warning("bar cache: dropping unreadable entry %s (%s: %s)", path.name, type(exc).__name__, exc)
            path.unlink(missing_ok=True)
            self.misses += 1
            return None
        self.hits += 1
        return frame

    def put(self, key: Mapping[str, str], frame: pd.DataFrame) -> None:
        if self.ttl_s == 0:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
