"""Manual reset of the circuit breaker: a small job an operator launches from the UI (Launchpad config).

It rewrites the book's latest journaled state (the one the next run starts from) with the breaker
cleared, its peak rebased to the current equity and the losing streak acknowledged, and journals who
reset it and why. A later backfill over that session recomputes the state by the rules again.
"""

from datetime import date

from dagster import Config, Failure, OpExecutionContext, job, op
from pydantic import Field

from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.domain.book import BookState, events_to_frame
from trading_pipeline.domain.risk.breaker import reset_breaker


class BreakerResetConfig(Config):
    operator: str = Field(description="Who resets the breaker (journaled).")
    reason: str = Field(description="Why it is safe to trade again (journaled).")


@op(description="Clear the circuit breaker of the configured book in its latest journaled state.")
def reset_circuit_breaker(
    context: OpExecutionContext, config: BreakerResetConfig, trading: TradingBook, journal: JournalResource
) -> None:
    latest = journal.journal.load_book_state(trading.book, before=date.max)
    if latest is None:
        raise Failure(description=f"book {trading.book!r} has no journaled state: nothing to reset")
    book = journal.book(context, trading.book, sessions=[latest[0]])
    session, saved_state = book.load_state(before=date.max)  # again, under the book's lock
    reset, event = reset_breaker(BookState.from_dict(saved_state), session, config.operator, config.reason)
    run_id = context.run.run_id
    with book.transaction("reset the circuit breaker"):
        book.save_book_states({session: reset.to_dict()})
        book.record_risk_events([session], f"manual_reset:{run_id}", events_to_frame([event]))
    context.log.info(f"book {trading.book}: {event.message} (state of {session})")
    context.add_output_metadata({"book": trading.book, "session": session.isoformat(), "message": event.message})


@job(description="Manual circuit breaker reset of one book (config: operator and reason), journaled.")
def reset_circuit_breaker_job() -> None:
    reset_circuit_breaker()
