"""requests: who cancelled a request, when and why

``pyros request cancel`` records the cancellation on the request (issue #23): its not yet
executed sequences become ``cancelled`` at once, and a sequence executing at that moment reads
these columns before each exposure and stops at the end of the current one. Rows stored before
keep NULLs (never cancelled).

Revision ID: 0007_request_cancel
Revises: 0006_alert_road
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from infra.db.models.base import UTCDateTime

revision: str = "0007_request_cancel"
down_revision: str | None = "0006_alert_road"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancelled_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("cancelled_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("cancel_reason")
        batch_op.drop_column("cancelled_by")
        batch_op.drop_column("cancelled_at")
