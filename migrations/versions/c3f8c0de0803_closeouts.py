"""close-outs: pro-rata settlements of contracts ended with work unfinished

Revision ID: c3f8c0de0803
Revises: b2f8c0de0802
Create Date: 2026-11-24 23:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3f8c0de0803'
down_revision = 'b2f8c0de0802'
branch_labels = None
depends_on = None

DELIVERABLE_STATUSES = (
    'pending', 'submitted', 'changes_requested', 'approved', 'missed', 'waived', 'cancelled'
)
CONTRACT_STATUSES = (
    'draft', 'proposed', 'active', 'completed', 'partially_completed', 'terminated', 'expired'
)


def _deliverable_status(*extra):
    """The deliverables' status column type (its CHECK lists the allowed values)."""
    return sa.Enum(
        *DELIVERABLE_STATUSES, *extra,
        name='deliverable_status', native_enum=False, create_constraint=True, length=20,
    )


REVISION_STATES = (
    'in_review', 'approved', 'approved_with_corrections', 'changes_requested', 'auto_approved'
)


def _revision_state(*extra):
    """The revisions' state column type (its CHECK lists the allowed values)."""
    return sa.Enum(
        *REVISION_STATES, *extra, name='revision_state', native_enum=False, create_constraint=True
    )


def upgrade():
    # A revision in review when its contract ends is closed unreviewed.
    with op.batch_alter_table('revisions', schema=None) as batch_op:
        batch_op.alter_column(
            'state',
            existing_type=_revision_state(),
            type_=_revision_state('closed'),
            existing_nullable=False,
        )

    # A deliverable can be marked for reassignment to another creator.
    with op.batch_alter_table('deliverables', schema=None) as batch_op:
        batch_op.alter_column(
            'status',
            existing_type=_deliverable_status(),
            type_=_deliverable_status('reassigned'),
            existing_nullable=False,
        )

    op.create_table('closeouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('workroom_id', sa.Integer(), nullable=False),
    sa.Column('ends_as', sa.Enum(*CONTRACT_STATUSES, name='closeout_ends_as', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('status', sa.Enum('proposed', 'accepted', 'escalated', 'withdrawn', 'superseded', name='closeout_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=False),
    sa.Column('proposed_by_id', sa.Integer(), nullable=False),
    sa.Column('proposed_side', sa.Enum('brand', 'creator', name='closeout_side', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('kill_fee_percent', sa.Integer(), nullable=False),
    sa.Column('to_creator_minor', sa.BigInteger(), nullable=False),
    sa.Column('to_brand_minor', sa.BigInteger(), nullable=False),
    sa.Column('release_minor', sa.BigInteger(), nullable=False),
    sa.Column('refund_minor', sa.BigInteger(), nullable=False),
    sa.Column('already_released_minor', sa.BigInteger(), nullable=False),
    sa.Column('shortfall_minor', sa.BigInteger(), nullable=False),
    sa.Column('reassign_ids', sa.JSON(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('kill_fee_percent BETWEEN 0 AND 100', name=op.f('ck_closeouts_closeout_kill_fee_range')),
    sa.CheckConstraint('to_creator_minor >= 0 AND to_brand_minor >= 0 AND release_minor >= 0 AND refund_minor >= 0 AND already_released_minor >= 0 AND shortfall_minor >= 0', name=op.f('ck_closeouts_closeout_amounts_not_negative')),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_closeouts_contract_id_contracts')),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'], name=op.f('fk_closeouts_proposed_by_id_users')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_closeouts_ticket_id_tickets')),
    sa.ForeignKeyConstraint(['workroom_id'], ['workrooms.id'], name=op.f('fk_closeouts_workroom_id_workrooms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_closeouts'))
    )
    with op.batch_alter_table('closeouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_closeouts_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_closeouts_workroom_id'), ['workroom_id'], unique=False)
        batch_op.create_index('uq_closeouts_one_open', ['contract_id'], unique=True, sqlite_where=sa.text("status = 'proposed'"), postgresql_where=sa.text("status = 'proposed'"))

    op.create_table('closeout_acceptances',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('closeout_id', sa.Integer(), nullable=False),
    sa.Column('side', sa.Enum('brand', 'creator', name='closeout_acceptance_side', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['closeout_id'], ['closeouts.id'], name=op.f('fk_closeout_acceptances_closeout_id_closeouts')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_closeout_acceptances_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_closeout_acceptances')),
    sa.UniqueConstraint('closeout_id', 'side', name=op.f('uq_closeout_acceptances_closeout_id_side'))
    )
    with op.batch_alter_table('closeout_acceptances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_closeout_acceptances_closeout_id'), ['closeout_id'], unique=False)

    op.create_table('closeout_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('closeout_id', sa.Integer(), nullable=False),
    sa.Column('deliverable_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=160), nullable=False),
    sa.Column('status', sa.Enum(*DELIVERABLE_STATUSES, 'reassigned', name='closeout_line_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('basis', sa.Enum('approved', 'in_progress', 'not_started', 'excused', name='closeout_line_basis', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('price_minor', sa.BigInteger(), nullable=False),
    sa.Column('to_creator_minor', sa.BigInteger(), nullable=False),
    sa.Column('to_brand_minor', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("(basis = 'excused' AND to_creator_minor = 0 AND to_brand_minor = 0) OR to_creator_minor + to_brand_minor = price_minor", name=op.f('ck_closeout_lines_closeout_line_parts_sum_to_price')),
    sa.CheckConstraint('to_creator_minor >= 0 AND to_brand_minor >= 0 AND price_minor >= 0', name=op.f('ck_closeout_lines_closeout_line_not_negative')),
    sa.ForeignKeyConstraint(['closeout_id'], ['closeouts.id'], name=op.f('fk_closeout_lines_closeout_id_closeouts')),
    sa.ForeignKeyConstraint(['deliverable_id'], ['deliverables.id'], name=op.f('fk_closeout_lines_deliverable_id_deliverables')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_closeout_lines')),
    sa.UniqueConstraint('closeout_id', 'position', name=op.f('uq_closeout_lines_closeout_id_position'))
    )
    with op.batch_alter_table('closeout_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_closeout_lines_closeout_id'), ['closeout_id'], unique=False)


def downgrade():
    with op.batch_alter_table('closeout_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_closeout_lines_closeout_id'))

    op.drop_table('closeout_lines')
    with op.batch_alter_table('closeout_acceptances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_closeout_acceptances_closeout_id'))

    op.drop_table('closeout_acceptances')
    with op.batch_alter_table('closeouts', schema=None) as batch_op:
        batch_op.drop_index('uq_closeouts_one_open', sqlite_where=sa.text("status = 'proposed'"), postgresql_where=sa.text("status = 'proposed'"))
        batch_op.drop_index(batch_op.f('ix_closeouts_workroom_id'))
        batch_op.drop_index(batch_op.f('ix_closeouts_contract_id'))

    op.drop_table('closeouts')

    # Deliverables marked for reassignment count as cancelled without that status.
    op.execute("UPDATE deliverables SET status = 'cancelled' WHERE status = 'reassigned'")
    with op.batch_alter_table('deliverables', schema=None) as batch_op:
        batch_op.alter_column(
            'status',
            existing_type=_deliverable_status('reassigned'),
            type_=_deliverable_status(),
            existing_nullable=False,
        )

    # A closed revision had no name before: it reads as sent back, never as waiting.
    op.execute("UPDATE revisions SET state = 'changes_requested' WHERE state = 'closed'")
    with op.batch_alter_table('revisions', schema=None) as batch_op:
        batch_op.alter_column(
            'state',
            existing_type=_revision_state('closed'),
            type_=_revision_state(),
            existing_nullable=False,
        )
