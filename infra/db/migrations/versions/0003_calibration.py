"""calibration masters

Revision ID: 0003_calibration
Revises: 0002_devices
Create Date: 2026-11-25 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import infra.db.models.base


revision: str = '0003_calibration'
down_revision: str | None = '0002_devices'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('calibration_masters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('camera', sa.String(length=128), nullable=False),
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('filter', sa.String(length=128), nullable=False),
    sa.Column('flat_source', sa.String(length=16), nullable=False),
    sa.Column('exposure_s', sa.Float(), nullable=False),
    sa.Column('night', sa.String(length=10), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('n_frames', sa.Integer(), nullable=False),
    sa.Column('frames', sa.JSON(), nullable=True),
    sa.Column('rejected', sa.JSON(), nullable=True),
    sa.Column('created_at', infra.db.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('quality', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calibration_masters'))
    )
    with op.batch_alter_table('calibration_masters', schema=None) as batch_op:
        batch_op.create_index('ix_calibration_masters_lookup', ['camera', 'type', 'filter', 'night'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('calibration_masters', schema=None) as batch_op:
        batch_op.drop_index('ix_calibration_masters_lookup')

    op.drop_table('calibration_masters')
