"""runs: kind (interactive | bulk) and editor, for queue kinds and fair shares

Revision 0002 after 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # server defaults: runs queued before this revision were bulk, by nobody in particular
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=20), server_default="bulk", nullable=False)
        )
        batch_op.add_column(
            sa.Column("editor", sa.String(length=120), server_default="", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_runs_editor"), ["editor"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_editor"))
        batch_op.drop_column("editor")
        batch_op.drop_column("kind")
