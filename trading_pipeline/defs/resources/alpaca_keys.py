"""The Alpaca account key pair every Alpaca resource (data, news, broker, assets) is built with."""

from __future__ import annotations

from typing import Self

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

KEY_VARIABLE, SECRET_VARIABLE = "ALPACA_API_KEY", "ALPACA_SECRET_KEY"


class AlpacaKeys(ConfigurableResource):
    """Mixed into each Alpaca resource: the keys come from the environment when a run starts, never from config."""

    api_key: str = Field(description=f"Alpaca key id; pass EnvVar('{KEY_VARIABLE}').")
    secret_key: str = Field(description=f"Alpaca secret; pass EnvVar('{SECRET_VARIABLE}').")

    @classmethod
    def from_env(cls, **config) -> Self:
        """The resource with its keys read from ALPACA_API_KEY / ALPACA_SECRET_KEY, resolved by Dagster at launch."""
        return cls(api_key=EnvVar(KEY_VARIABLE), secret_key=EnvVar(SECRET_VARIABLE), **config)
