"""The trace database's tables, in SQLAlchemy Core, portable between SQLite and Postgres.

    traces    one row per request; trace_id is the key, (tenant, started_at) the usual filter
    feedback  up/down + comment, any number per trace, added later; the latest one counts

The migrations in trace/migrations/versions/ create these tables; the two
must agree (a test compares them). JSON columns hold what has no fixed
shape: stages_ms {"embed": 1.2}, retrieved [{rank, chunk_id, doc_id,
doc_version, score}], errors ["..."], params {"k": 10}, detail (trace/detail.py).

Left out: ORM classes (the store maps rows to `TraceRecord` itself) and
per-dialect types such as JSONB (nothing queries inside the JSON).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

__all__ = ["UTCDateTime", "feedback", "metadata", "traces"]


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware in (naive values are taken as UTC), timezone-aware UTC out, on every backend.

    SQLite has no time zone type: SQLAlchemy stores the wall-clock digits and
    drops the offset, so values are converted to UTC first, which also keeps
    their text order equal to their time order.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

traces = sa.Table(
    "traces",
    metadata,
    sa.Column("trace_id", sa.String(32), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("route", sa.String, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("request_id", sa.String, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("http_status", sa.Integer, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("stages_ms", sa.JSON, nullable=False),
    sa.Column("query", sa.Text, nullable=True),  # NULL: not stored (store_text = "none")
    sa.Column("answer", sa.Text, nullable=True),
    sa.Column("prompt_name", sa.String, nullable=True),
    sa.Column("prompt_version", sa.String, nullable=True),
    sa.Column("model", sa.String, nullable=True),
    sa.Column("retrieved", sa.JSON, nullable=False),
    sa.Column("confidence", sa.Float, nullable=True),
    sa.Column("abstained", sa.Boolean, nullable=True),
    sa.Column("abstain_reason", sa.Text, nullable=True),
    sa.Column("input_tokens", sa.Integer, nullable=False),
    sa.Column("output_tokens", sa.Integer, nullable=False),
    sa.Column("cost_usd", sa.Float, nullable=False),
    sa.Column("retries", sa.Integer, nullable=False),
    sa.Column("errors", sa.JSON, nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("detail", sa.JSON, nullable=True),  # trace/detail.py; NULL for traces written before it
    # GET /v1/traces is "this tenant's, newest first"; purge and admin listings go by time alone.
    sa.Index("ix_traces_tenant_started_at", "tenant", "started_at"),
    sa.Index("ix_traces_started_at", "started_at"),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("trace_id", sa.String(32), sa.ForeignKey("traces.trace_id"), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("rating", sa.String(8), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("rating IN ('up', 'down')", name="ck_feedback_rating"),
    sa.Index("ix_feedback_trace_id", "trace_id"),
)
