"""What counts as a bad bar: one resource, so that every step validating bars applies the same rules.

market_bars validates the range; the indicators' warm-up, the track records' and the memory's look-backs and the
universe's discovery history validate the bars before it. A real move accepted here (a split in unadjusted
data, a takeover) is accepted in all of them; as op config of market_bars alone, the history the indicators
warm up on still quarantined the symbol from that move on.
"""

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field, field_validator

from trading_pipeline.domain.bars import MAX_CLOSE_MOVE, parse_accepted_moves, validate_bars


class BarRules(ConfigurableResource):
    max_close_move: float = Field(
        default=MAX_CLOSE_MOVE,
        gt=0,
        description="Largest close-to-close move, as a factor: 0.5 quarantines a symbol from a close above 1.5x "
        "or below 1/1.5x of its previous close on.",
    )
    accepted_moves: list[str] = Field(
        default=[],
        description='Real moves beyond that limit, as "SYMBOL:YYYY-MM-DD" (e.g. "AAPL:2000-09-29"): not quarantined.',
    )

    @field_validator("accepted_moves")
    @classmethod
    def _parseable(cls, texts: list[str]) -> list[str]:
        parse_accepted_moves(texts)
        return texts

    def accepted(self) -> frozenset:
        return parse_accepted_moves(self.accepted_moves)

    def validate(self, bars: pd.DataFrame) -> pd.DataFrame:
        """``validate_bars`` under these rules."""
        return validate_bars(bars, self.max_close_move, self.accepted())
