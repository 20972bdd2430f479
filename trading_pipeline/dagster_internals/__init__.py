"""The one place that reaches into Dagster's private API (``dagster._...``), behind a versioned boundary.

What is here was written and tested against one Dagster release, ``VERIFIED_DAGSTER``. On any other release the
modules fall back to Dagster's stock behaviour and say so with one warning: the project keeps working, only slower
(``event_log``: per-event SQLite writes; ``events``: observations stored one by one). Nothing outside this package
imports ``dagster._``.
"""

import warnings

import dagster

VERIFIED_DAGSTER = "1.13.27"
SUPPORTED = dagster.__version__ == VERIFIED_DAGSTER


class UnverifiedDagsterWarning(UserWarning):
    """The installed Dagster is not the release the project's use of its private API was verified against."""


def warn_fallback(what: str) -> None:
    """One warning naming the fallback taken because the installed Dagster is not the verified release."""
    warnings.warn(
        f"dagster {dagster.__version__} is installed, {VERIFIED_DAGSTER} was verified: {what}",
        UnverifiedDagsterWarning,
        stacklevel=3,
    )
