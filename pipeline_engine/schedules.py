"""Schedules: the wire types of ``/v1/schedules`` (engine, REST API and SDK share them).

A schedule starts the tenant's pipeline at times given by a cron expression or an interval, in a
time zone; each run is a new pipeline whose id carries its scheduled time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["SCHEDULE_ID", "Overlap", "ScheduleDefinition", "ScheduleRun", "ScheduleStatus"]

SCHEDULE_ID = r"^[A-Za-z0-9_-]{1,100}$"
"""What a schedule id may be (unique per tenant)."""

Overlap = Literal["skip", "buffer_one", "allow_all"]


class ScheduleDefinition(BaseModel):
    """When and what a schedule runs.

    Attributes:
        tenant_id: The owning tenant.
        schedule_id: Its id, unique for the tenant.
        pipeline: The tenant's pipeline it runs (``default``).
        input: Every run's input.
        cron: A cron expression (``"0 6 * * *"``), or
        interval_s: every this many seconds.
        timezone: IANA zone the cron expression is read in (UTC by default).
        overlap: A run due while the previous one still runs: ``skip`` it (default), keep
            ``buffer_one`` to start after, or ``allow_all`` at once.
        paused: Created paused.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "tenant_id": "cultivos-abc",
                    "schedule_id": "morning",
                    "input": {},
                    "cron": "0 6 * * *",
                    "timezone": "America/Bogota",
                    "overlap": "skip",
                }
            ]
        },
    )

    tenant_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
    schedule_id: str = Field(pattern=SCHEDULE_ID)
    pipeline: str | None = Field(None, max_length=200)
    input: Any = None
    cron: str | None = Field(None, min_length=1, max_length=200)
    interval_s: int | None = Field(None, ge=1, le=366 * 24 * 3600)
    timezone: str | None = Field(None, max_length=100)
    overlap: Overlap = "skip"
    paused: bool = False

    @model_validator(mode="after")
    def _one_spec(self) -> ScheduleDefinition:
        if (self.cron is None) == (self.interval_s is None):
            raise ValueError("give exactly one of cron and interval_s")
        if self.timezone is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {self.timezone!r}") from None
        return self


class ScheduleRun(BaseModel):
    """One run a schedule started.

    Attributes:
        scheduled_at: The time it was due.
        started_at: When it started.
        pipeline_id: The pipeline it started.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    scheduled_at: datetime
    started_at: datetime | None = None
    pipeline_id: str


class ScheduleStatus(ScheduleDefinition):
    """A schedule as it is now.

    Attributes:
        next_run_times: Its next due times (up to 5; none while paused).
        recent_runs: The runs it started lately, newest last.
        runs: How many runs it started in all.
        note: Why it was last paused or unpaused.
    """

    model_config = ConfigDict(extra="ignore")

    next_run_times: list[datetime] = Field(default_factory=list)
    recent_runs: list[ScheduleRun] = Field(default_factory=list)
    runs: int = 0
    note: str | None = None
