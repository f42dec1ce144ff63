"""renewals: decisions, opt-outs, the contract a renewal continues

Revision ID: b2f8c0de0802
Revises: a1f8c0de0801
Create Date: 2026-11-24 23:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b2f8c0de0802'
down_revision = 'a1f8c0de0801'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('auto_renew_opt_outs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('side', sa.Enum('brand', 'creator', name='opt_out_side', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_auto_renew_opt_outs_contract_id_contracts')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_auto_renew_opt_outs_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auto_renew_opt_outs')),
    sa.UniqueConstraint('contract_id', 'side', name=op.f('uq_auto_renew_opt_outs_contract_id_side'))
    )
    with op.batch_alter_table('auto_renew_opt_outs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auto_renew_opt_outs_contract_id'), ['contract_id'], unique=False)

    op.create_table('renewal_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.Enum('renew', 'renegotiate', 'lapse', name='renewal_choice', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('comment', sa.String(length=2000), nullable=False),
    sa.Column('side', sa.Enum('brand', 'creator', name='decision_side', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_contract_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_renewal_decisions_contract_id_contracts')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_renewal_decisions_decided_by_id_users')),
    sa.ForeignKeyConstraint(['next_contract_id'], ['contracts.id'], name=op.f('fk_renewal_decisions_next_contract_id_contracts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_renewal_decisions'))
    )
    with op.batch_alter_table('renewal_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_renewal_decisions_contract_id'), ['contract_id'], unique=False)

    # One next contract per contract: the unique renews_id is the chain of terms.
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('renews_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_contracts_renews_id'), ['renews_id'])
        batch_op.create_foreign_key(batch_op.f('fk_contracts_renews_id_contracts'), 'contracts', ['renews_id'], ['id'])


def downgrade():
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_contracts_renews_id_contracts'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_contracts_renews_id'), type_='unique')
        batch_op.drop_column('renews_id')

    with op.batch_alter_table('renewal_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_renewal_decisions_contract_id'))

    op.drop_table('renewal_decisions')
    with op.batch_alter_table('auto_renew_opt_outs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auto_renew_opt_outs_contract_id'))

    op.drop_table('auto_renew_opt_outs')
