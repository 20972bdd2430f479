"""The strategy catalog: the ten built-in strategies plus the user's, registered by configuration."""

from functools import cached_property

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field

from trading_pipeline.domain.strategies import REGISTRY, Strategy
from trading_pipeline.domain.strategies.plugins import ENTRY_POINT_GROUP, build_registry


class StrategyCatalog(ConfigurableResource):
    """Which strategies signals, selection and validation may use."""

    plugins: list[str] = Field(
        default_factory=list,
        description="User strategies as 'package.module:attribute' (a @strategy function or a Strategy class).",
    )
    entry_points: bool = Field(
        default=True, description=f"Also load strategies installed under the '{ENTRY_POINT_GROUP}' entry point group."
    )

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Load the plugins when the run starts: a plugin that does not import fails the run at once, with its
        error, rather than inside a step whose retry policy is for LLM answers."""
        _ = self.registry

    @cached_property
    def registry(self) -> dict[str, Strategy]:
        return build_registry(REGISTRY, self.plugins, self.entry_points)

    @property
    def names(self) -> list[str]:
        return sorted(self.registry)
