"""The analytics code location: the dbt models and tests over the journal.

A location of its own so that the trading code never imports dbt: dagster-dbt loads dbt-core, seconds that every
step subprocess of a UI backfill and every CLI backtest would otherwise pay. The models still sit downstream of
fills, portfolio, sized_orders and strategy_selection in the global lineage: the dependencies are asset keys, which
the webserver joins across locations.
"""

from dagster import Definitions

from trading_pipeline.defs.analytics.dbt_assets import DBT_RESOURCE, analytics_dbt, analytics_job
from trading_pipeline.defs.resources.journal import JournalResource

defs = Definitions(
    assets=[analytics_dbt],
    jobs=[analytics_job],
    resources={"journal": JournalResource(), "dbt": DBT_RESOURCE},
)
