"""The trading book's identity, capital and hard risk limits."""

from dagster import ConfigurableResource
from pydantic import Field, create_model

from trading_pipeline.domain.risk.limits import RiskLimits


class _Book(ConfigurableResource):
    """Which book the cycle trades and the limits no step may exceed (DESIGN section 6)."""

    book: str = Field(default="offline", description="Book name: journal rows and order ids are scoped by it.")
    initial_capital: float = Field(default=100_000.0, gt=0, description="Cash of a book's first session.")
    max_quarantined_share: float = Field(
        default=0.20, ge=0, le=1, description="A session with more of the universe quarantined takes no orders."
    )

    def limits(self) -> RiskLimits:
        """The limits as the domain reads them (their cross-field rules are checked here)."""
        return RiskLimits(**{name: getattr(self, name) for name in RiskLimits.model_fields})


# Every limit is declared once, in RiskLimits (bound, default, description): the resource takes those very fields
# as its configuration, so the launchpad and the domain can never disagree about a bound.
TradingBook = create_model(
    "TradingBook",
    __base__=_Book,
    __module__=__name__,
    __doc__=_Book.__doc__,
    **{name: (field.annotation, field) for name, field in RiskLimits.model_fields.items()},
)
