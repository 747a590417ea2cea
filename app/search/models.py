"""The anonymous search log behind the zero-result report: terms and result counts, never who searched."""
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class SearchLog(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[date] = mapped_column(index=True)  # Monday of the week searched
    query: Mapped[str] = mapped_column(sa.String(200))  # folded (Simplified, lower case)
    terms: Mapped[str] = mapped_column(sa.String(400))  # the terms searched for, space separated
    results: Mapped[int]
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=lambda: datetime.now(timezone.utc))


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


class SearchGeneration(db.Model):
    """One row: a number bumped in the same transaction as every sync or publication that changes what is
    indexed. Each app node compares it with the number its index has caught up to (index.catch_up()), so a
    revision published on one node is found on every node, each with its own index (docs/deploy.md)."""
    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


def current_generation() -> int:
    return db.session.scalar(sa.select(SearchGeneration.value).where(SearchGeneration.id == 1)) or 0


def bump_generation() -> None:
    """In the caller's transaction (the sync's or the publication's): committed with the content, or not at all."""
    if not db.session.execute(sa.update(SearchGeneration).where(SearchGeneration.id == 1)
                              .values(value=SearchGeneration.value + 1)).rowcount:
        db.session.add(SearchGeneration(id=1, value=1))
