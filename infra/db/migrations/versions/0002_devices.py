"""devices: 64-bit lease epochs

Gateways start their lease epochs at the wall clock in milliseconds (so a restarted gateway never
reuses an epoch); that overflows a 32-bit integer.

Revision ID: 0002_devices
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_devices"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("device_leases", schema=None) as batch_op:
        batch_op.alter_column(
            "epoch", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("device_leases", schema=None) as batch_op:
        batch_op.alter_column(
            "epoch", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False
        )
