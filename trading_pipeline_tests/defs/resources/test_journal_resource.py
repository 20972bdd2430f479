"""The journal resource finds its database at run time: configured URL, else $TRADING_JOURNAL_URL, else SQLite."""

from pathlib import Path

from dagster import DagsterInstance, asset, materialize

from trading_pipeline.defs.resources.journal import JournalResource, default_journal_url, journal_url


def test_the_configured_url_wins_then_the_environment_then_the_instance_sqlite(tmp_path, monkeypatch):
    monkeypatch.delenv("TRADING_JOURNAL_URL", raising=False)
    assert journal_url(tmp_path) == default_journal_url(tmp_path) == f"sqlite:///{tmp_path}/trading_pipeline/journal.db"
    monkeypatch.setenv("TRADING_JOURNAL_URL", "sqlite:///from-env.db")
    assert journal_url(tmp_path) == "sqlite:///from-env.db"
    assert journal_url(tmp_path, "sqlite:///configured.db") == "sqlite:///configured.db"


@asset
def books(journal: JournalResource) -> list[str]:
    return journal.journal.books()


def test_a_run_opens_the_journal_named_by_the_environment_when_it_starts(tmp_path, monkeypatch):
    # The definitions hold a bare JournalResource(): the variable is read when a run sets the resource up.
    elsewhere = tmp_path / "elsewhere" / "journal.db"
    elsewhere.parent.mkdir()
    monkeypatch.setenv("TRADING_JOURNAL_URL", f"sqlite:///{elsewhere}")
    with DagsterInstance.ephemeral(tempdir=str(tmp_path / "home")) as instance:
        result = materialize([books], instance=instance, resources={"journal": JournalResource()})
    assert result.success and result.output_for_node("books") == []
    assert elsewhere.exists()
    assert not Path(default_journal_url(tmp_path / "home").removeprefix("sqlite:///")).exists()
