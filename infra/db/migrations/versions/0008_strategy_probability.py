"""strategy_obs: how a strategy reads an error circle and covers a larger one partly

A strategy's ``error_containment`` (the share of the burst's probability inside a notice's error
radius) and ``min_probability`` (NULL: a circle needing more than ``max_tiles`` tiles is not
followed; a fraction: its most probable ``max_tiles`` tiles are, when they hold that much) mirror
``[[alerts.strategies]]`` (issue #26). Rows stored before get 0.9 and NULL, what they meant.

Revision ID: 0008_strategy_probability
Revises: 0007_request_cancel
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_strategy_probability"
down_revision: str | None = "0007_request_cancel"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("strategy_obs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("error_containment", sa.Float(), nullable=False, server_default="0.9")
        )
        batch_op.add_column(sa.Column("min_probability", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("strategy_obs", schema=None) as batch_op:
        batch_op.drop_column("min_probability")
        batch_op.drop_column("error_containment")
