"""Where performance_report writes its files: a resource, so that a deployment can hold the folder to DAGSTER_HOME
(``launch_lock.LockedReportFolder``) while a backtest launched offline picks any folder."""

from pathlib import Path

from dagster import ConfigurableResource

# The op whose config names the folder (``out_dir``): the locked variant reads it when a run starts.
REPORT_OP, REPORT_FIELD = "performance_report", "out_dir"


def default_report_dir(home: Path, book: str) -> Path:
    return home / "trading_pipeline" / "reports" / book


class ReportFolder(ConfigurableResource):
    """The folder ``out_dir`` names, anywhere; else <DAGSTER_HOME>/trading_pipeline/reports/<book>."""

    def path(self, home: Path, out_dir: str | None, book: str) -> Path:
        return Path(out_dir) if out_dir else default_report_dir(home, book)
