"""traces and feedback

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Self-contained on purpose: a revision describes the tables as they were when
it was written, so it does not import trace/schema.py, which moves on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "traces",
        sa.Column("trace_id", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("route", sa.String, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("stages_ms", sa.JSON, nullable=False),
        sa.Column("query", sa.Text, nullable=True),
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
    )
    op.create_index("ix_traces_tenant_started_at", "traces", ["tenant", "started_at"])
    op.create_index("ix_traces_started_at", "traces", ["started_at"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trace_id", sa.String(32), sa.ForeignKey("traces.trace_id"), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("rating", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating IN ('up', 'down')", name="ck_feedback_rating"),
    )
    op.create_index("ix_feedback_trace_id", "feedback", ["trace_id"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("traces")
