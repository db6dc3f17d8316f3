"""clipping quality: the detected language's confidence and warnings on a project

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("projects", sa.Column("language_probability", sa.Float(), nullable=True))
    op.add_column("projects", sa.Column("language_detected", sa.Boolean(), nullable=True))
    op.add_column(
        "projects",
        sa.Column("warnings", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("projects", "warnings")
    op.drop_column("projects", "language_detected")
    op.drop_column("projects", "language_probability")
