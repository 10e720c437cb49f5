"""accounts, programmes, leads, ground rules, rota

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 04:07:10.944044
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('programme_organisation',
    sa.Column('programme_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('organisation_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], ),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], ),
    sa.PrimaryKeyConstraint('programme_id', 'organisation_id')
    )
    op.create_table('account',
    sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('person_id'),
    sa.UniqueConstraint('email')
    )
    op.create_table('password_reset',
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.Integer(), nullable=False),
    sa.Column('used_at', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('token_hash')
    )
    with op.batch_alter_table('password_reset', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_reset_person_id'), ['person_id'], unique=False)

    op.create_table('programme_lead',
    sa.Column('programme_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], ),
    sa.PrimaryKeyConstraint('programme_id', 'person_id')
    )
    with op.batch_alter_table('programme_lead', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_programme_lead_person_id'), ['person_id'], unique=False)

    with op.batch_alter_table('learning_set', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ground_rules', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('template', sa.Text(), server_default='', nullable=False))

    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.add_column(sa.Column('duration_minutes', sa.Integer(), server_default='180', nullable=False))
        batch_op.add_column(sa.Column('rota_person_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_foreign_key('fk_meeting_rota_person', 'person', ['rota_person_id'], ['id'])

    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rules_accepted_at', sa.Integer(), nullable=True))

    with op.batch_alter_table('programme', schema=None) as batch_op:
        batch_op.add_column(sa.Column('meetings_planned', sa.Integer(), server_default='6', nullable=False))
        batch_op.add_column(sa.Column('cadence_weeks', sa.Integer(), server_default='4', nullable=False))
        batch_op.add_column(sa.Column('template', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('attendance_target', sa.Integer(), server_default='90', nullable=False))

    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.drop_column('link_id')

    with op.batch_alter_table('programme', schema=None) as batch_op:
        batch_op.drop_column('attendance_target')
        batch_op.drop_column('template')
        batch_op.drop_column('cadence_weeks')
        batch_op.drop_column('meetings_planned')

    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_column('rules_accepted_at')

    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.drop_constraint('fk_meeting_rota_person', type_='foreignkey')
        batch_op.drop_column('rota_person_id')
        batch_op.drop_column('duration_minutes')

    with op.batch_alter_table('learning_set', schema=None) as batch_op:
        batch_op.drop_column('template')
        batch_op.drop_column('ground_rules')

    with op.batch_alter_table('programme_lead', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_programme_lead_person_id'))

    op.drop_table('programme_lead')
    with op.batch_alter_table('password_reset', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_password_reset_person_id'))

    op.drop_table('password_reset')
    op.drop_table('account')
    op.drop_table('programme_organisation')
