"""a set's turn_record: what of a presenter's turn the set sees later

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 06:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('learning_set', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'turn_record',
                sqlmodel.sql.sqltypes.AutoString(length=32),
                server_default='commitment_only',
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table('learning_set', schema=None) as batch_op:
        batch_op.drop_column('turn_record')
