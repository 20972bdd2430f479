"""The bundled sector map (``trading_pipeline/data/sectors.csv``; provenance in ``data/SOURCES.md``).

The sector cap needs every symbol in some bucket: a symbol the map does not know is its own bucket
(``unknown:<SYMBOL>``), so the cap still binds on it alone and the caller can report it.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from pathlib import Path

SECTORS_CSV: Path = Path(__file__).resolve().parents[1] / "data" / "sectors.csv"
UNKNOWN_PREFIX = "unknown:"


@functools.cache
def load_sector_map(path: Path = SECTORS_CSV) -> Mapping[str, str]:
    """``symbol → sector``; the dashed spelling of class shares (BRK-B) is accepted next to the dotted one."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != ["symbol", "sector"]:
            raise ValueError(f"{path}: expected the header symbol,sector, got {reader.fieldnames}")
        mapping: dict[str, str] = {}
        for line, row in enumerate(reader, start=2):
            symbol, sector = row["symbol"].strip(), row["sector"].strip()
            if not symbol or not sector:
                raise ValueError(f"{path}:{line}: empty symbol or sector")
            if symbol in mapping:
                raise ValueError(f"{path}:{line}: {symbol} is mapped twice")
            mapping[symbol] = sector
    for symbol in [s for s in mapping if "." in s]:
        mapping.setdefault(symbol.replace(".", "-"), mapping[symbol])
    return mapping


def sector_of(symbol: str, sectors: Mapping[str, str]) -> str:
    """The symbol's sector, or its own ``unknown:`` bucket."""
    return sectors.get(symbol) or f"{UNKNOWN_PREFIX}{symbol}"


def is_unknown(sector: str) -> bool:
    return sector.startswith(UNKNOWN_PREFIX)
