"""alerts: the road and the wall instants of the intake

An alert row says which road brought its packet (``comet``, ``kafka``, ``drop``, ``cli``) and the
wall instant its decision was stored; with ``wall_received_at`` (now the wall instant the packet
reached PyROS: the listener's spool, or the CLI) it gives the wall latency reception -> decision.
Rows stored before keep NULLs.

Revision ID: 0006_alert_road
Revises: 0005_request_content
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from infra.db.models.base import UTCDateTime

revision: str = "0006_alert_road"
down_revision: str | None = "0005_request_content"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("road", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("wall_decided_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("wall_decided_at")
        batch_op.drop_column("road")
