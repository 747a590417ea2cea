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
