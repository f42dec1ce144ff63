"""performance results per live deliverable

Revision ID: a1f8c0de0801
Revises: 268b1061f3f7
Create Date: 2026-11-24 23:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1f8c0de0801'
down_revision = '268b1061f3f7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('performance_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deliverable_id', sa.Integer(), nullable=False),
    sa.Column('measured_on', sa.Date(), nullable=False),
    sa.Column('reach', sa.BigInteger(), nullable=False),
    sa.Column('impressions', sa.BigInteger(), nullable=False),
    sa.Column('views', sa.BigInteger(), nullable=False),
    sa.Column('likes', sa.BigInteger(), nullable=False),
    sa.Column('comments', sa.BigInteger(), nullable=False),
    sa.Column('shares', sa.BigInteger(), nullable=False),
    sa.Column('saves', sa.BigInteger(), nullable=False),
    sa.Column('clicks', sa.BigInteger(), nullable=False),
    sa.Column('conversions', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.Enum('manual', 'csv', name='result_source', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('reach >= 0', name=op.f('ck_performance_results_reach_not_negative')),
    sa.CheckConstraint('impressions >= 0', name=op.f('ck_performance_results_impressions_not_negative')),
    sa.CheckConstraint('views >= 0', name=op.f('ck_performance_results_views_not_negative')),
    sa.CheckConstraint('likes >= 0', name=op.f('ck_performance_results_likes_not_negative')),
    sa.CheckConstraint('comments >= 0', name=op.f('ck_performance_results_comments_not_negative')),
    sa.CheckConstraint('shares >= 0', name=op.f('ck_performance_results_shares_not_negative')),
    sa.CheckConstraint('saves >= 0', name=op.f('ck_performance_results_saves_not_negative')),
    sa.CheckConstraint('clicks >= 0', name=op.f('ck_performance_results_clicks_not_negative')),
    sa.CheckConstraint('conversions >= 0', name=op.f('ck_performance_results_conversions_not_negative')),
    sa.ForeignKeyConstraint(['deliverable_id'], ['deliverables.id'], name=op.f('fk_performance_results_deliverable_id_deliverables')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_performance_results_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_performance_results')),
    sa.UniqueConstraint('deliverable_id', 'measured_on', name=op.f('uq_performance_results_deliverable_id_measured_on'))
    )
    with op.batch_alter_table('performance_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_performance_results_deliverable_id'), ['deliverable_id'], unique=False)


def downgrade():
    with op.batch_alter_table('performance_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_performance_results_deliverable_id'))

    op.drop_table('performance_results')
