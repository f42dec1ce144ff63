"""exits, replacements, post-exit analyses

Revision ID: d4f8c0de0804
Revises: c3f8c0de0803
Create Date: 2026-11-24 23:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4f8c0de0804'
down_revision = 'c3f8c0de0803'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('exits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('workroom_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('started_by_id', sa.Integer(), nullable=False),
    sa.Column('started_side', sa.Enum('brand', 'creator', name='exit_side', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('reason', sa.Enum('underperformance', 'conflict', 'missed_deliverables', 'creator_withdraws', 'brand_withdraws', 'policy_violation', 'mutual', name='exit_reason', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('comment', sa.String(length=2000), nullable=False),
    sa.Column('for_cause', sa.Boolean(), nullable=False),
    sa.Column('notice_days', sa.Integer(), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('notice', 'settling', 'in_mediation', 'ended', name='exit_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('closeout_id', sa.Integer(), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('reassign_ids', sa.JSON(), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('replacement_creator_id', sa.Integer(), nullable=True),
    sa.Column('replacement_workroom_id', sa.Integer(), nullable=True),
    sa.Column('replacement_contract_id', sa.Integer(), nullable=True),
    sa.Column('replaced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_exits_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['closeout_id'], ['closeouts.id'], name=op.f('fk_exits_closeout_id_closeouts')),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_exits_contract_id_contracts')),
    sa.ForeignKeyConstraint(['invitation_id'], ['campaign_invitations.id'], name=op.f('fk_exits_invitation_id_campaign_invitations')),
    sa.ForeignKeyConstraint(['replacement_contract_id'], ['contracts.id'], name=op.f('fk_exits_replacement_contract_id_contracts')),
    sa.ForeignKeyConstraint(['replacement_creator_id'], ['users.id'], name=op.f('fk_exits_replacement_creator_id_users')),
    sa.ForeignKeyConstraint(['replacement_workroom_id'], ['workrooms.id'], name=op.f('fk_exits_replacement_workroom_id_workrooms')),
    sa.ForeignKeyConstraint(['started_by_id'], ['users.id'], name=op.f('fk_exits_started_by_id_users')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_exits_ticket_id_tickets')),
    sa.ForeignKeyConstraint(['workroom_id'], ['workrooms.id'], name=op.f('fk_exits_workroom_id_workrooms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exits')),
    sa.UniqueConstraint('contract_id', name=op.f('uq_exits_contract_id'))
    )
    with op.batch_alter_table('exits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exits_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_exits_workroom_id'), ['workroom_id'], unique=False)

    op.create_table('exit_analyses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exit_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Enum('underperformance', 'conflict', 'missed_deliverables', 'creator_withdraws', 'brand_withdraws', 'policy_violation', 'mutual', name='analysis_reason', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('factors', sa.JSON(), nullable=False),
    sa.Column('prevention', sa.Text(), nullable=False),
    sa.Column('written_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['exit_id'], ['exits.id'], name=op.f('fk_exit_analyses_exit_id_exits')),
    sa.ForeignKeyConstraint(['written_by_id'], ['users.id'], name=op.f('fk_exit_analyses_written_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exit_analyses')),
    sa.UniqueConstraint('exit_id', name=op.f('uq_exit_analyses_exit_id'))
    )


def downgrade():
    op.drop_table('exit_analyses')
    with op.batch_alter_table('exits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exits_workroom_id'))
        batch_op.drop_index(batch_op.f('ix_exits_campaign_id'))

    op.drop_table('exits')
