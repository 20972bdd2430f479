"""The journal, the system of record of the books: storage, not domain logic.

``tables`` (one row class per table), ``frames`` (validation of what is written), ``bulk`` (COPY and multi-row
inserts, raw reads), ``store`` (the ``Journal``), ``llm_ledger`` (the LLM call ledger) and ``migrations`` (Alembic).
"""

from trading_pipeline.journal.frames import DateLike, to_session_date
from trading_pipeline.journal.store import Journal, JournalError, masked_url
from trading_pipeline.journal.tables import TABLES, OrderStatus, RiskAction

__all__ = [
    "TABLES",
    "DateLike",
    "Journal",
    "JournalError",
    "OrderStatus",
    "RiskAction",
    "masked_url",
    "to_session_date",
]
