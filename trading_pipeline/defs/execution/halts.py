"""The kill switch: ``halt_trading_job`` stops new entries for a book, cancels its pending entries and, if asked,
sells its positions at the next open; ``resume_trading_job`` lifts the halt. An operator launches them (Launchpad
config, or ``trading-pipeline halt/resume``) with who and why, and both are journaled.

The halt is recorded first, in its own transaction: from then on no run sizes a buy for the book, whatever happens
at the broker. Then the broker cancels the pending entries (and places the flattening sells), and the book's latest
state, the orders' statuses, the new orders and the events are journaled in one transaction. Both jobs hold the
book's lock, so no run of the book is under way while its halt changes.
"""

from datetime import date

from dagster import Config, Failure, OpExecutionContext, job, op
from pydantic import Field

from trading_pipeline.defs.execution.execution import journal_orders
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.broker import Broker
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.domain.book import BookState, Order, RiskEvent, events_to_frame, orders_to_frame
from trading_pipeline.domain.risk.events import risk_event
from trading_pipeline.domain.risk.halt import HALT_RULE, Halt
from trading_pipeline.journal import halts
from trading_pipeline.journal.books import BookJournal, book_kind


class HaltConfig(Config):
    operator: str = Field(description="Who halts the book (journaled).")
    reason: str = Field(description="Why it must stop trading (journaled).")
    flatten: bool = Field(default=False, description="Also sell every position of the book at the next open.")


class ResumeConfig(Config):
    operator: str = Field(description="Who lifts the halt (journaled).")
    reason: str = Field(description="Why it is safe to trade again (journaled).")


@op(description="Halt the configured book: no new entry, its pending entries cancelled, its positions optionally sold.")
def halt_trading(
    context: OpExecutionContext, config: HaltConfig, trading: TradingBook, broker: Broker, journal: JournalResource
) -> None:
    book = _locked(context, trading.book, journal)
    halt = halts.halt(journal.journal, trading.book, config.operator, config.reason, config.flatten, context.run.run_id)
    context.log.info(f"book {trading.book} {halt.describe()}")
    saved = book.load_state(before=date.max)
    if saved is None:
        context.add_output_metadata({"book": trading.book, "halt": halt.describe(), "journaled_state": "none"})
        return
    session, state = saved[0], BookState.from_dict(saved[1])
    after, placed, events = _at_the_broker(halt, state, broker, book_kind(journal.journal, trading.book))
    still = {o.client_order_id for o in after.pending}
    cancelled = {o.client_order_id: "cancelled" for o in state.pending if o.client_order_id not in still}
    events.insert(0, risk_event(session, None, HALT_RULE, "info", None, None, halt.describe()))
    with book.transaction("journal the halt"):
        if after != state:
            book.save_book_states({session: after.to_dict()})
        book.update_order_status(cancelled)
        if placed:
            book.add("orders", journal_orders(orders_to_frame(placed)).assign(status="submitted"))
        book.record_risk_events([session], f"halt:{context.run.run_id}", events_to_frame(events))
    context.add_output_metadata(
        {
            "book": trading.book,
            "halt": halt.describe(),
            "journaled_state": session.isoformat(),
            "entries_cancelled": sum(e.action == "cancelled" for e in events),
            "flatten_orders": len(placed),
            "refused_by_the_broker": sum(e.action == "rejected" for e in events),
        }
    )


def _at_the_broker(
    halt: Halt, state: BookState, broker: Broker, kind: str | None
) -> tuple[BookState, list[Order], list[RiskEvent]]:
    """Cancel the entries and place the flattening sells with the book's own broker; a failure says that the book
    is halted nonetheless."""
    cause: Exception | None = None
    try:
        trades = broker.kind
        if kind is None or kind == trades:
            after, events = broker.cancel_entries(state)
            placed: list[Order] = []
            if halt.flatten:
                after, placed, refused = broker.flatten(after)
                events += refused
            return after, placed, events
        problem = f"it is a {kind} book and this run's broker is {trades}: nothing was cancelled or sold"
    except Exception as exc:
        problem, cause = f"the broker failed ({type(exc).__name__}: {exc})", exc
    raise Failure(
        description=f"book {halt.book!r} is {halt.describe()}, so no run will size a buy for it; but {problem}. "
        "Check its entries and positions at its broker, or resume it and halt it again with its broker.",
        allow_retries=False,
    ) from cause


@op(description="Lift the halt of the configured book.")
def resume_trading(context: OpExecutionContext, config: ResumeConfig, trading: TradingBook, journal: JournalResource):
    book = _locked(context, trading.book, journal)
    lifted = halts.resume(journal.journal, trading.book, config.operator, config.reason)
    message = f"resumed by {config.operator}: {config.reason} (it was {lifted.describe()})"
    context.log.info(f"book {trading.book} {message}")
    saved = book.load_state(before=date.max)
    if saved is not None:
        event = risk_event(saved[0], None, HALT_RULE, "info", None, None, message)
        book.record_risk_events([saved[0]], f"resume:{context.run.run_id}", events_to_frame([event]))
    context.add_output_metadata({"book": trading.book, "message": message})


def _locked(context: OpExecutionContext, book: str, journal: JournalResource) -> BookJournal:
    """The book's journal under its lock (refused while a run writes it), over its latest journaled session."""
    latest = journal.journal.load_book_state(book, before=date.max)
    return journal.book(context, book, sessions=[latest[0] if latest else date.today()])


@job(description="Kill switch of one book (config: operator, reason, flatten): no new entry, entries cancelled.")
def halt_trading_job() -> None:
    halt_trading()


@job(description="Lift the halt of one book (config: operator, reason), journaled.")
def resume_trading_job() -> None:
    resume_trading()
