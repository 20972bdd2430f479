"""Events a step stores itself, and the errors a failed step reports, through Dagster's private classes."""

from collections.abc import Sequence
from typing import Any

from dagster import AssetExecutionContext, AssetObservation

from trading_pipeline.dagster_internals import SUPPORTED, warn_fallback

if SUPPORTED:
    from dagster._core.events import DagsterEvent, DagsterEventBatchMetadata, generate_event_batch_id


def log_observations(context: AssetExecutionContext, observations: Sequence[AssetObservation]) -> None:
    """Store a step's observations as one batch, as Dagster does for a ranged step's materializations
    (``context.log_event`` stores each alone: ~16 ms a session on SQLite)."""
    if not SUPPORTED:
        warn_fallback("observations are logged one by one")
        for observation in observations:
            context.log_event(observation)
        return
    step = context.op_execution_context.get_step_execution_context()
    batch_id, last = generate_event_batch_id(), len(observations) - 1
    for i, observation in enumerate(observations):
        DagsterEvent.asset_observation(step, observation, DagsterEventBatchMetadata(batch_id, i == last))


def step_error_text(error: Any) -> str:
    """The error a step's own code raised, not Dagster's "Error occurred while executing op" wrappers around it
    (``error`` is the step failure's ``SerializableErrorInfo``)."""
    while error.cause is not None and error.cls_name.startswith("DagsterExecution"):
        error = error.cause
    return error.message.strip()
