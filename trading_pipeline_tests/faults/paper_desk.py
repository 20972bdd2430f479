"""A paper desk on the local Alpaca: the paper profile's Definitions, driven by its real schedules and sensors
evaluated at chosen instants, each run executed through the Dagster instance, while the sandbox's clock moves
through the sessions (entries fill at the opens, stops trigger on the bars, day orders expire at the closes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import pandas as pd
from dagster import (
    DagsterInstance,
    Definitions,
    RunRequest,
    build_schedule_context,
    build_sensor_context,
)

from trading_pipeline.definitions import build_defs
from trading_pipeline.defs.profiles import Profile, profile_from
from trading_pipeline.defs.resources.journal import default_journal_url
from trading_pipeline.journal import Journal
from trading_pipeline.sandbox.alpaca_server import NEW_YORK, SECRET_KEY, AlpacaSandbox
from trading_pipeline_tests.fakes.alpaca_fixtures import fresh_key


def at(day: date, moment: time) -> datetime:
    return datetime.combine(day, moment, tzinfo=NEW_YORK)


@dataclass
class PaperDesk:
    instance: DagsterInstance
    server: AlpacaSandbox
    symbols: list[str]
    limits: dict = field(default_factory=dict)  # the book's risk limits that differ from the defaults
    env: dict[str, str] = field(default_factory=dict)
    profile: Profile = field(init=False)
    defs: Definitions = field(init=False)
    cursors: dict[str, str | None] = field(default_factory=dict)
    runs: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env = {
            "TRADING_PROFILE": "paper",
            "ALPACA_API_KEY": fresh_key(),
            "ALPACA_SECRET_KEY": SECRET_KEY,
            "ALPACA_BASE_URL": self.server.url,
            "TRADING_SYMBOLS": ",".join(self.symbols),
        }
        profile = profile_from(self.env)
        trading = profile.resources["trading"]
        resources = {**profile.resources, "trading": type(trading)(**self.limits)}
        self.profile = Profile(profile.name, resources, profile.providers, profile.keys)
        self.defs = build_defs(self.profile)

    @property
    def book(self) -> str:
        return self.profile.book

    @property
    def journal(self) -> Journal:
        return Journal(default_journal_url(Path(self.instance.root_directory)))

    def move_to(self, moment: datetime) -> None:
        self.server.advance_to(moment)

    # ---- automation, as the daemon runs it -------------------------------------------------------------------
    def tick(self, schedule_name: str) -> list[RunRequest]:
        """The schedule's run requests at the sandbox's now (the daemon's tick time)."""
        schedule = self.defs.resolve_schedule_def(schedule_name)
        with build_schedule_context(
            scheduled_execution_time=self.server.now,
            repository_def=self.defs.get_repository_def(),
            instance=self.instance,
            resources=self.profile.resources,
        ) as context:
            data = schedule.evaluate_tick(context)
        return list(data.run_requests or [])

    def sense(self, sensor_name: str) -> list[RunRequest]:
        sensor = self.defs.resolve_sensor_def(sensor_name)
        with build_sensor_context(
            instance=self.instance,
            cursor=self.cursors.get(sensor_name),
            repository_def=self.defs.get_repository_def(),
            resources=self.profile.resources,
        ) as context:
            data = sensor.evaluate_tick(context)
        self.cursors[sensor_name] = data.cursor
        return list(data.run_requests or [])

    def launch(self, request: RunRequest, job_name: str, raise_on_error: bool = True):
        """Execute the request's run through the instance (in-process: the job's executor is in-process anyway)."""
        job = self.defs.resolve_job_def(job_name)
        result = job.execute_in_process(
            instance=self.instance,
            partition_key=request.partition_key,
            tags=dict(request.tags),
            raise_on_error=raise_on_error,
        )
        self.runs.append((job_name, request.partition_key, result.success))
        return result

    def daily(self, day: date, raise_on_error: bool = True) -> list:
        """The daily schedule's tick after ``day``'s close, and its runs (caught-up sessions first)."""
        self.move_to(at(day, time(16, 15)))
        return [self.launch(r, "daily_cycle", raise_on_error) for r in self.tick("daily_cycle_schedule")]

    def intraday(self, moment: datetime) -> list:
        self.move_to(moment)
        results = [self.launch(r, "intraday_cycle") for r in self.tick("intraday_cycle_schedule")]
        self.sense("order_status_sensor")
        return results

    def table(self, name: str) -> pd.DataFrame:
        return self.journal.read(name, book=self.book)
