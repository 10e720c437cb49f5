"""feedback, learning log, commitment updates, reminders, attendance corrections

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 05:10:32.492501
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('feedback',
    sa.Column('meeting_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('usefulness', sa.Integer(), nullable=False),
    sa.Column('safety', sa.Integer(), nullable=False),
    sa.Column('challenge', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), server_default='', nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('meeting_id', 'person_id')
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_person_id'), ['person_id'], unique=False)

    op.create_table('learning_log_entry',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('set_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('meeting_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['set_id'], ['learning_set.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('learning_log_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_learning_log_entry_person_id'), ['person_id'], unique=False)

    op.create_table('reminder_sent',
    sa.Column('meeting_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('sent_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('meeting_id', 'person_id')
    )
    op.create_table('commitment_update',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('commitment_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['commitment_id'], ['commitment.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('commitment_update', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commitment_update_commitment_id'), ['commitment_id'], unique=False)

    with op.batch_alter_table('attendance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('corrected_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('corrected_at', sa.BigInteger(), nullable=True))
        batch_op.create_foreign_key('fk_attendance_corrected_by', 'person', ['corrected_by'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('attendance', schema=None) as batch_op:
        batch_op.drop_constraint('fk_attendance_corrected_by', type_='foreignkey')
        batch_op.drop_column('corrected_at')
        batch_op.drop_column('corrected_by')

    with op.batch_alter_table('commitment_update', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commitment_update_commitment_id'))

    op.drop_table('commitment_update')
    op.drop_table('reminder_sent')
    with op.batch_alter_table('learning_log_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_learning_log_entry_person_id'))

    op.drop_table('learning_log_entry')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_person_id'))

    op.drop_table('feedback')
