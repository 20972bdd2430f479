"""Where the memory of setups is kept: one interface; a numpy store under DAGSTER_HOME offline, pgvector when a
URL is configured. Both answer identically (``trading_pipeline_tests/integrations/test_pgvector_store.py``).

The memory is append-only and keyed by (date, symbol): each run adds the setups whose outcome it can see and
that are not stored yet, so a re-run adds nothing and the daily cycle adds the setup whose horizon just closed.
A query as of session D sees only outcomes known by D, so a memory that also holds later setups (a backfill of
a later range ran first) still answers D as D's close knew it.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import Config, ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from trading_pipeline.defs.resources.launch_lock import LaunchConfigRefused, deployed_value, inside_home, launch_field
from trading_pipeline.domain.memory.check import MemoryCheck
from trading_pipeline.domain.memory.outcomes import DEFAULT_HORIZON
from trading_pipeline.domain.memory.store import NumpySetupStore, SetupStore
from trading_pipeline.domain.memory.summary import DEFAULT_K, similar_setups_many, summary_frame

if TYPE_CHECKING:
    from trading_pipeline.integrations.pgvector_store import PgVectorSetupStore


class MemoryCheckConfig(Config):
    """domain.memory.check.MemoryCheck, off by default: the walk-forward study (README) found that it picks weak
    weeks rather than weak setups and leaves the returns of what is traded unchanged."""

    enabled: bool = False
    max_loss_rate: float = 0.6
    min_neighbours: int = 10
    scale: float = 0.5

    def rule(self) -> MemoryCheck:
        return MemoryCheck(self.max_loss_rate, self.min_neighbours, self.scale)


class SetupMemoryStore(ConfigurableResource):
    """The store of past setups the setup_memory asset fills and queries, and the switch of the memory check
    (here, not on the check's op, so that setup_memory knows whether anything in the run reads the memory)."""

    check: MemoryCheckConfig = Field(
        default_factory=MemoryCheckConfig,
        description="The memory check of validated_signals (off by default: the study found no gain).",
    )

    @abstractmethod
    def open(self) -> SetupStore:
        """The store as it stands, ready to query."""

    @abstractmethod
    def remember(self, vectors: pd.DataFrame, outcomes: pd.DataFrame) -> int:
        """Add the setups not stored yet; how many were added."""

    @contextmanager
    def opened(self) -> Iterator[SetupStore]:
        """``open``, for one batch of work; a store holding a connection releases it after."""
        yield self.open()

    def answers(self, vectors: pd.DataFrame) -> pd.DataFrame:
        """``SUMMARY_COLUMNS`` of each setup of ``vectors`` (``VECTOR_COLUMNS``): what its nearest past setups
        did, as the memory stood on its session. Asked only by the steps that read them (one query a row)."""
        with self.opened() as store:
            return summary_frame(similar_setups_many(store, vectors, DEFAULT_K, DEFAULT_HORIZON))

    @property
    @abstractmethod
    def provider(self) -> str: ...


class LocalSetupMemory(SetupMemoryStore):
    """The offline default: exact numpy search over every setup, kept as one Parquet file under DAGSTER_HOME."""

    path: str | None = Field(
        default=None,
        description="The Parquet file, inside DAGSTER_HOME; None: trading_pipeline/memory/setups.parquet there.",
    )
    _file: Path | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        home = Path(context.instance.root_directory) if context.instance else Path.cwd()
        # Inside DAGSTER_HOME whatever the config says: a launch must not write elsewhere (resources/launch_lock.py).
        relative = self.path or "trading_pipeline/memory/setups.parquet"
        self._file = inside_home(relative, home, "memory.path")

    @property
    def provider(self) -> str:
        return "numpy (session store)"

    def open(self) -> NumpySetupStore:
        if self._file is None:
            raise RuntimeError("LocalSetupMemory used outside a Dagster execution")
        store = NumpySetupStore()
        if self._file.exists():
            stored = pq.read_table(self._file).to_pandas()
            store.add(stored, stored)
        return store

    def remember(self, vectors: pd.DataFrame, outcomes: pd.DataFrame) -> int:
        store = self.open()
        added = store.add_new(vectors, outcomes)
        if added:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._file.with_suffix(".parquet.tmp")
            pq.write_table(pa.Table.from_pandas(store.rows(), preserve_index=False), tmp, compression="lz4")
            os.replace(tmp, self._file)  # a crash never leaves a torn memory
        return added


class PgVectorSetupMemory(SetupMemoryStore):
    """pgvector on PostgreSQL (the compose database): exact search, shared by every process of the desk."""

    url: str = Field(description="SQLAlchemy or libpq URL; pass EnvVar('TRADING_MEMORY_URL').")
    table: str = Field(default="setups", description="The table of setups (created with the extension if missing).")

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if self.url != deployed_value(context, self, "url"):  # the URL may hold a password: never shown
            raise LaunchConfigRefused(
                f"{launch_field(context, 'url')} cannot be set at launch: the memory is the database the deployment "
                "chose (TRADING_MEMORY_URL). Remove it from the launch config."
            )

    @property
    def provider(self) -> str:
        return f"pgvector ({self.table})"

    def open(self) -> PgVectorSetupStore:
        # Imported here: psycopg costs every process ~0.2 s of start-up, and only this memory needs it.
        from trading_pipeline.integrations.pgvector_store import PgVectorSetupStore

        return PgVectorSetupStore(self.url, self.table)

    @contextmanager
    def opened(self) -> Iterator[PgVectorSetupStore]:
        with closing(self.open()) as store:
            yield store

    def remember(self, vectors: pd.DataFrame, outcomes: pd.DataFrame) -> int:
        with self.opened() as store:
            return store.add_new(vectors, outcomes)
