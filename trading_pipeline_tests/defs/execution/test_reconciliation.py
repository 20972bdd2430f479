"""The reconciliation check on the simulated broker: journal positions against the replay of journal fills."""

import sqlalchemy as sa
from dagster import AssetSelection, materialize

from trading_pipeline.definitions import ASSETS, CHECKS, DEFAULT_RESOURCES
from trading_pipeline.defs.execution.reconciliation import positions_reconciled
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.journal import TABLES
from trading_pipeline_tests.cycles import run_cycle

FIRST = ("2008-09-02", "2008-10-31")


def _check_alone(instance, trading: TradingBook):
    """Re-run only the reconciliation check over FIRST, as the UI's "Execute check" does."""
    return materialize(
        [*ASSETS, *CHECKS],
        selection=AssetSelection.checks(positions_reconciled),
        instance=instance,
        resources={**DEFAULT_RESOURCES, "trading": trading},
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": FIRST[0], "dagster/asset_partition_range_end": FIRST[1]},
    )


def _evaluation(result):
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "positions_reconciled"]
    return evaluation


def test_a_corrupted_journal_fails_the_reconciliation(instance):
    """A fill lost from the journal, then a position row edited: each makes the check fail, naming the symbol."""
    trading = TradingBook(book="recon-lost")
    run = run_cycle(instance, *FIRST, trading=trading)
    assert run.result.success
    clean = _evaluation(run.result)
    assert clean.passed and clean.metadata["compared_with"].value == "journal fills"
    assert clean.metadata["positions_checked"].value > 0  # there were positions to check
    assert _evaluation(_check_alone(instance, trading)).passed  # the check alone agrees before the damage

    held = run.table("positions")
    symbol = held[held["session"] == held["session"].max()]["symbol"].iloc[0]
    fills = run.table("fills")
    lost = fills[(fills["symbol"] == symbol) & (fills["side"] == "buy")].iloc[-1]
    table = TABLES["fills"]
    with run.journal._engine.begin() as conn:
        assert conn.execute(sa.delete(table).where(table.c.fill_id == lost["fill_id"])).rowcount == 1

    result = _check_alone(instance, trading)
    evaluation = _evaluation(result)
    assert not evaluation.passed
    assert evaluation.metadata["mismatches"].value > 0
    assert symbol in evaluation.metadata["details"].value
    events = run.journal.read("risk_events", book=trading.book)
    assert (events["source"] == "check:positions_reconciled").any()
