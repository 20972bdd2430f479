"""The point-in-time universe: the symbols eligible on session D, decided only from what was known at the close
of D-1 (the discovery features), optionally restricted to an index membership table.

The bundled S&P 500 panels are survivorship-biased: their members are those of early 2018, so a study over
them only ever picks companies that survived to 2018. A membership table (symbol, start, end) makes the
universe point-in-time when the bars also cover the symbols that left the index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from trading_pipeline.domain.discovery.features import FEATURE_HISTORY, WINDOW
from trading_pipeline.domain.discovery.filters import HardFilters, Rule, verdicts

UNIVERSE_COLUMNS = ["date", "symbol", "eligible", "reason"]
MEMBERSHIP_COLUMNS = ["symbol", "start", "end"]
SURVIVORSHIP_NOTE = (
    "survivorship-biased: without a membership table the universe is every symbol of the bars, and the S&P 500 "
    "panels in ../shared list the members of early 2018 only, so every symbol in them survived to 2018"
)


@dataclass(frozen=True)
class UniverseRules:
    """Eligibility on D from the features of D-1.

    - ``filters``: a loose floor, not a selection (that is the pickers' job): history enough for every
      discovery feature to be defined, a close of at least $1 and $1M of average daily dollar volume.
    - ``max_quarantined_share``: at most this share of the last ``WINDOW`` bars quarantined (default: one bar
      in twenty), and the bar of D-1 itself must be clean: a symbol whose data is bad now is not tradable now.
    """

    filters: HardFilters = field(
        default_factory=lambda: HardFilters(min_history=FEATURE_HISTORY, min_price=1.0, min_dollar_volume=1e6)
    )
    max_quarantined_share: float = 1 / WINDOW

    def __post_init__(self) -> None:
        if not 0 <= self.max_quarantined_share <= 1:
            raise ValueError(f"max_quarantined_share must be in [0, 1], got {self.max_quarantined_share}")


def eligible_universe(
    features: pd.DataFrame, rules: UniverseRules = UniverseRules(), membership: pd.DataFrame | None = None
) -> pd.DataFrame:
    """``UNIVERSE_COLUMNS`` for every row of ``features`` (same order): eligible or not, and why not.

    ``membership`` (see :func:`check_membership`): a symbol is eligible on D only inside one of its spells.
    """
    rules_applied: list[Rule] = [
        *rules.filters.rules(features),
        ("bar of the previous session quarantined", ~features["last_bar_clean"].to_numpy(dtype=bool)),
        (
            f"quarantined share > {rules.max_quarantined_share:.0%} of the last {WINDOW} bars",
            ~(features["quarantined_share"].to_numpy(dtype="float64") <= rules.max_quarantined_share),
        ),
    ]
    if membership is not None:
        rules_applied.append(("not an index member on this session", ~_members(features, membership)))
    eligible, reason = verdicts(rules_applied, "eligible", len(features))
    return pd.DataFrame(
        {"date": features["date"].to_numpy(), "symbol": features["symbol"].to_numpy(), "eligible": eligible}
    ).assign(reason=reason)


def check_membership(membership: pd.DataFrame) -> pd.DataFrame:
    """The membership table with dates parsed: one row per spell, ``end`` inclusive and empty (NaT) while the
    symbol is still a member; a symbol may have several spells. A clear error names the first bad row."""
    missing = [c for c in MEMBERSHIP_COLUMNS if c not in membership.columns]
    if missing:
        raise ValueError(f"membership lacks column(s) {missing}; expected {MEMBERSHIP_COLUMNS}")
    table = membership[MEMBERSHIP_COLUMNS].reset_index(drop=True)
    symbols = table["symbol"].astype("str").str.strip()
    if (table["symbol"].isna() | (symbols == "")).any():
        raise ValueError(f"membership row {int((table['symbol'].isna() | (symbols == '')).idxmax())}: empty symbol")
    dates = {}
    for column in ("start", "end"):
        try:
            dates[column] = pd.to_datetime(table[column], format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"membership column {column!r}: not a date: {exc}") from None
    start, end = dates["start"], dates["end"]
    bad = start.isna() | (end < start)
    if bad.any():
        row = int(bad.idxmax())
        raise ValueError(
            f"membership row {row} ({symbols[row]}): start {table['start'][row]!r} is missing or after end "
            f"{table['end'][row]!r}"
        )
    return pd.DataFrame({"symbol": symbols, "start": start.dt.normalize(), "end": end.dt.normalize()})


def load_membership(path: str | Path) -> pd.DataFrame:
    """A membership CSV (header symbol,start,end; ISO dates; an empty end for a current member), checked."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[""])
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path}: cannot read the membership file: {exc}") from None
    try:
        return check_membership(table)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _members(features: pd.DataFrame, membership: pd.DataFrame) -> np.ndarray:
    """Whether each row's session lies inside one of its symbol's spells."""
    spells = check_membership(membership)
    rows = pd.DataFrame(
        {"row": np.arange(len(features)), "symbol": features["symbol"].to_numpy(), "date": features["date"].to_numpy()}
    )
    joined = rows.merge(spells, on="symbol", how="inner")
    inside = (joined["start"] <= joined["date"]) & (joined["end"].isna() | (joined["date"] <= joined["end"]))
    member = np.zeros(len(features), dtype=bool)
    member[joined.loc[inside, "row"].to_numpy()] = True
    return member
