"""requests: content hash

A request carries the SHA-256 of what it asks for (``tasks/requests/parse.py:content_sha256``):
the same content submitted again by the same user is refused unless asked for again. Requests
stored before keep an empty hash and are never taken for duplicates.

Revision ID: 0005_request_content
Revises: 0004_state_text
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_request_content"
down_revision: str | None = "0004_state_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("content_sha256", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.create_index("ix_requests_user_content", ["user_id", "content_sha256"])


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index("ix_requests_user_content")
        batch_op.drop_column("content_sha256")
