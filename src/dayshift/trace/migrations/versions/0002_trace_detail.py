"""traces.detail: what the trace debugger shows

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01

One nullable JSON column: traces written before it read back with an empty
detail. Self-contained, like 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("traces") as batch:
        batch.add_column(sa.Column("detail", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("traces") as batch:
        batch.drop_column("detail")
