"""requisites: the images, stylesheets, scripts and fonts archived with each page

Revision 0004 after 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "requisites",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("page_record_id", sa.String(length=100), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("url_sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("warc_file", sa.String(length=300), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("end_offset", sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("payload_length", sa.BigInteger(), nullable=False),
        sa.Column("revisit_of", sa.String(length=100), nullable=True),
        sa.Column("revisit_file", sa.String(length=300), nullable=True),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("reused", sa.Boolean(), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("requisites", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_requisites_page_record_id"), ["page_record_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_requisites_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_requisites_url_sha256"), ["url_sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_requisites_warc_file"), ["warc_file"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("requisites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requisites_warc_file"))
        batch_op.drop_index(batch_op.f("ix_requisites_url_sha256"))
        batch_op.drop_index(batch_op.f("ix_requisites_sha256"))
        batch_op.drop_index(batch_op.f("ix_requisites_page_record_id"))
    op.drop_table("requisites")
