"""The broker accounts and the books on each: a resource, validated when it loads (``domain.risk.accounts``)."""

from dagster import Config, ConfigurableResource
from pydantic import Field, create_model, model_validator

from trading_pipeline.domain.risk.accounts import Account, Accounts

# One account's configuration: exactly the fields of the domain's Account (bounds, defaults and descriptions).
AccountConfig = create_model(
    "AccountConfig",
    __base__=Config,
    __module__=__name__,
    __doc__=Account.__doc__,
    **{name: (field.annotation, field) for name, field in Account.model_fields.items()},
)


class TradingAccounts(ConfigurableResource):
    """The broker accounts of the desk; none configured: one account, ``default``, holding every book with limits
    that add nothing to a book's own."""

    accounts: list[AccountConfig] = Field(  # type: ignore[valid-type]
        default=[],
        description="Accounts: name, key_variable/secret_variable (names of the environment variables holding its "
        "Alpaca keys), books ('*': every book no other account lists), max_gross_exposure, max_daily_loss.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> "TradingAccounts":
        self.resolve()  # a book on two accounts, one account declared twice... fails here, when it loads
        return self

    def resolve(self) -> Accounts:
        if not self.accounts:
            return Accounts()
        return Accounts(accounts=tuple(Account(**account.model_dump()) for account in self.accounts))
