"""observatory state: values as text

The environment monitor keeps operator overrides (element, expiry, author, reason) as one JSON
value; 256 characters held only two of them.

Revision ID: 0004_state_text
Revises: 0003_calibration
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_state_text"
down_revision: str | None = "0003_calibration"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("observatory_state", schema=None) as batch_op:
        batch_op.alter_column(
            "value", existing_type=sa.String(length=256), type_=sa.Text(), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("observatory_state", schema=None) as batch_op:
        batch_op.alter_column(
            "value", existing_type=sa.Text(), type_=sa.String(length=256), existing_nullable=False
        )
