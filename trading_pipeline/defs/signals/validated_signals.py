"""validated_signals: the quant checks, the optional memory check, then an optional review; confidence may only
ever go down."""

import pandas as pd
from dagster import AssetIn, Config, In, OpExecutionContext, Out, graph_asset, op

from trading_pipeline.defs.llm_steps import llm_run, outcome_table, retry_only_invalid_answers
from trading_pipeline.defs.partitions import ranged, sessions_partitions, single_run
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.llm import LLM_OP_RETRY
from trading_pipeline.defs.resources.memory import SetupMemoryStore
from trading_pipeline.defs.resources.review import SignalReviewer
from trading_pipeline.domain.llm.review import apply_reviews
from trading_pipeline.domain.memory.check import check_memory
from trading_pipeline.domain.memory.summary import memory_columns, with_memory
from trading_pipeline.domain.strategies.base import MIN_SIGNAL_CONFIDENCE
from trading_pipeline.domain.validation import CONTEXT_FEATURES, ValidationThresholds, validate_signals


class QuantValidationConfig(Config):
    """The limits of domain.validation.ValidationThresholds (defaults explained in the README)."""

    min_trades: int = 3
    min_expectancy: float = 0.0
    sharpe_target: float = 1.5
    max_drawdown: float = 0.08
    volatility_spike_ratio: float = 1.5
    thin_volume_ratio: float = 0.5
    max_vif: float = 10.0


@op(ins={"signals": In(pd.DataFrame), "market_context": In(pd.DataFrame)}, out=Out(pd.DataFrame))
def quant_validation(
    context: OpExecutionContext, config: QuantValidationConfig, signals: pd.DataFrame, market_context: pd.DataFrame
) -> pd.DataFrame:
    """Every lowered confidence carries its reason in the ``validation`` column."""
    frame = validate_signals(signals, market_context, ValidationThresholds(**config.model_dump()))
    entries = frame[frame["action"] == "BUY"]
    context.add_output_metadata(
        {
            "entries": len(entries),
            "entries_lowered": int((entries["confidence"] < entries["raw_confidence"]).sum()),
            "entries_passing": int((entries["confidence"] >= MIN_SIGNAL_CONFIDENCE).sum()),
        }
    )
    return frame


@op(ins={"validated": In(pd.DataFrame), "setup_memory": In(pd.DataFrame)}, out=Out(pd.DataFrame))
def memory_check(
    context: OpExecutionContext,
    validated: pd.DataFrame,
    setup_memory: pd.DataFrame,
    memory: SetupMemoryStore,
) -> pd.DataFrame:
    """When enabled, a BUY whose nearest past setups mostly lost has its confidence scaled down, the figures in
    ``validation``; when off, the signals pass unchanged."""
    if not memory.check.enabled:
        context.add_output_metadata({"memory_check": "off (memory.check.enabled; the study found no gain)"})
        return validated
    answers = memory.answers(_setups_of(setup_memory, validated[validated["action"] == "BUY"]))
    frame = check_memory(validated, memory_columns(answers), memory.check.rule())
    buys = frame["action"] == "BUY"
    context.add_output_metadata(
        {
            "memory_check": "on",
            "entries": int(buys.sum()),
            "entries_lowered_by_memory": int((buys & (frame["confidence"] < validated["confidence"])).sum()),
        }
    )
    return frame


@op(
    retry_policy=LLM_OP_RETRY,
    ins={"validated": In(pd.DataFrame), "setup_memory": In(pd.DataFrame)},
    out=Out(pd.DataFrame, io_manager_key="session_store"),
)
def review_signals(
    context: OpExecutionContext,
    validated: pd.DataFrame,
    setup_memory: pd.DataFrame,
    reviewer: SignalReviewer,
    journal: JournalResource,
    trading: TradingBook,
    memory: SetupMemoryStore,
) -> pd.DataFrame:
    """The reviewer's verdicts, applied so that they can only lower a confidence or veto (action HOLD);
    the reason goes into ``review``. Sizes, stops and targets are not the reviewer's to touch. The reviewer
    sees each signal's similar past setups (figures only) as data."""
    shown = validated
    if reviewer.reads_data:
        actionable = validated[validated["action"] != "HOLD"]
        shown = with_memory(validated, memory.answers(_setups_of(setup_memory, actionable)))
    with retry_only_invalid_answers():
        reviews, outcomes = reviewer.review(shown, llm_run(context, journal, trading))
    frame = apply_reviews(validated, reviews)
    actionable = frame["action"] != "HOLD"
    context.add_output_metadata(
        {
            "actionable": int(actionable.sum()),
            "lowered": int((actionable & (frame["confidence"] < frame["raw_confidence"])).sum()),
            "reviewer": reviewer.provider,
            "reviewed_lowered": int((frame["confidence"] < validated["confidence"]).sum()),
            "vetoed": int(((validated["action"] != "HOLD") & ~actionable).sum()),
            "review_requests": outcome_table(outcomes),
        }
    )
    return frame


def _setups_of(setup_memory: pd.DataFrame, signals: pd.DataFrame) -> pd.DataFrame:
    """The setup vectors of the (date, symbol) rows of ``signals``: the only ones the memory is asked about."""
    return setup_memory.merge(signals[["date", "symbol"]], on=["date", "symbol"], how="inner")


@ranged(graph_asset)(
    ins={"market_context": AssetIn(metadata={"columns": list(CONTEXT_FEATURES)})},
    partitions_def=sessions_partitions,
    backfill_policy=single_run,
    group_name="signals",
    kinds={"pandas"},
)
def validated_signals(signals: pd.DataFrame, market_context: pd.DataFrame, setup_memory: pd.DataFrame) -> pd.DataFrame:
    """Signals after the quant checks, the optional memory check and the optional review (confidence may only
    go down)."""
    return review_signals(memory_check(quant_validation(signals, market_context), setup_memory), setup_memory)
