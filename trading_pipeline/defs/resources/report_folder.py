"""Where performance_report and sweep_results write their files: a resource, so that a deployment can hold the folder to DAGSTER_HOME
(``launch_lock.LockedReportFolder``) while a backtest launched offline picks any folder."""

from pathlib import Path

from dagster import ConfigurableResource

# The ops whose config names the folder they write to (``out_dir``): the locked variant reads them when a run starts.
REPORT_OP, SWEEP_OP, REPORT_FIELD = "performance_report", "sweep_results", "out_dir"
REPORT_OPS = (REPORT_OP, SWEEP_OP)


def default_report_dir(home: Path, book: str) -> Path:
    return home / "trading_pipeline" / "reports" / book


class ReportFolder(ConfigurableResource):
    """The folder ``out_dir`` names, anywhere; else <DAGSTER_HOME>/trading_pipeline/reports/<book>."""

    def path(self, home: Path, out_dir: str | None, book: str, op: str = REPORT_OP) -> Path:
        """``op``: the op whose ``out_dir`` this is (a refusal names it)."""
        return Path(out_dir) if out_dir else default_report_dir(home, book)
