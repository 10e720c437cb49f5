"""times as bigint

Times are epoch milliseconds, which outgrow a 32-bit INTEGER: PostgreSQL refused every row.
SQLite stored them well (its integers are 64-bit whatever the declared type); its tables are
rebuilt anyway, so that the schema matches the models everywhere.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMES = {
    "account": ("created_at",),
    "attendance": ("first_joined_at", "last_left_at"),
    "commitment": ("created_at", "updated_at"),
    "join_link": ("created_at", "expires_at", "revoked_at"),
    "meeting": ("scheduled_at", "created_at"),
    "meeting_event": ("at",),
    "membership": ("rules_accepted_at",),
    "password_reset": ("created_at", "expires_at", "used_at"),
    "question": ("at",),
    "web_session": ("created_at", "expires_at"),
}


def _retype(to: type[sa.types.TypeEngine[int]], was: type[sa.types.TypeEngine[int]]) -> None:
    for table, columns in TIMES.items():
        with op.batch_alter_table(table) as batch_op:
            for column in columns:
                batch_op.alter_column(column, type_=to(), existing_type=was())


def upgrade() -> None:
    _retype(sa.BigInteger, sa.Integer)


def downgrade() -> None:
    _retype(sa.Integer, sa.BigInteger)
