"""Covering indexes for `atlas status`, ETA and recent failures at a million rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_finished", "jobs", ["status", "finished_at"])
    op.create_index("ix_jobs_family_status", "jobs", ["family", "status"])
    op.create_index("ix_jobs_algorithm_status", "jobs", ["kind", "quantity", "algorithm", "status"])


def downgrade() -> None:
    op.drop_index("ix_jobs_algorithm_status", table_name="jobs")
    op.drop_index("ix_jobs_family_status", table_name="jobs")
    op.drop_index("ix_jobs_finished", table_name="jobs")
