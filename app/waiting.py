"""Work waiting for someone, and events about it.

Features register here; the to-do page, the header badge, the manager's dashboard, the digest and the
notifications read from here. This module imports no feature (see DESIGN.md, "Work waiting for someone").
"""
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable, Iterable


@dataclass(frozen=True)
class Item:
    """One thing a person should do, linking to where it is done."""

    kind: str  # "sign", "checklist", "swap", "handover", "review", "approve", "feedback", "periodic", ...
    title: str  # short, already translated
    url: str  # where it is done
    due: date | datetime | None = None  # None: no deadline, sorts after everything dated
    detail: str = ""  # one line of context (department, shift, who asked), already translated
    key: str = ""  # stable id, e.g. "swap:42", for tests and htmx

    def sort_key(self) -> tuple:
        due = self.due
        if isinstance(due, datetime):
            due = due.date()
        return (due is None, due or date.max, self.kind, self.title)


# fn(user) -> items waiting for that user. Register with @waiting_for.
providers: list[Callable[[object], Iterable[Item]]] = []


def waiting_for(fn: Callable[[object], Iterable[Item]]) -> Callable[[object], Iterable[Item]]:
    providers.append(fn)
    return fn


def items_for(user) -> list[Item]:
    """Everything waiting for `user`, most urgent (earliest due) first."""
    return sorted((item for fn in providers for item in fn(user)), key=Item.sort_key)


@dataclass(frozen=True)
class Event:
    """Something happened that someone should hear about (a notification, not a record: the audit trail is that).

    kind: "swap_requested", "handover_waiting", "overdue_signatures", "draft_review", "chase".
    text: short Chinese message, name and item only, no other personal data. url: absolute path to the item.
    Audience: the people (user ids) and/or the department / duty team whose channel should hear it.
    """

    kind: str
    text: str
    url: str
    user_ids: tuple[int, ...] = ()
    department_id: int | None = None
    team_id: int | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)


# fn(event) -> None. Called inside the request or CLI, before its commit: a listener must not do slow work
# here (queue it; send after commit, outside the request). Register with @listener.
listeners: list[Callable[[Event], None]] = []


def listener(fn: Callable[[Event], None]) -> Callable[[Event], None]:
    listeners.append(fn)
    return fn


def emit(event: Event) -> None:
    for fn in listeners:
        fn(event)


def count_for(user) -> int:
    """The header badge: how many items wait for `user`. The same providers as the list, so the two agree."""
    return sum(1 for fn in providers for _item in fn(user))


# Columns whose maximum moves whenever something happens that can change someone's list: ids of append-only tables
# (signatures, checklist events, the audit trail…). The badge reuses a count until one of them moves. Register with
# watch(Model.id).
watched: list = []


def watch(*columns) -> None:
    watched.extend(columns)


# The manager's dashboard ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One person or item behind a dashboard number."""

    user_ids: tuple[int, ...]  # who a 催签 reaches (a group item: every member; none: nobody to chase)
    name: str  # the person or group, already formatted
    what: str  # the item, already translated
    url: str  # where to see it
    due: date | datetime | None = None


@dataclass(frozen=True)
class Section:
    """One number on the dashboard of a department, and the rows behind it."""

    key: str  # stable, e.g. "overdue_signatures": the 催签 form names it
    title: str  # already translated
    rows: tuple[Row, ...] = ()
    order: int = 50  # where it stands on the dashboard

    @property
    def people(self) -> set[int]:
        return {u for r in self.rows for u in r.user_ids}


# fn(department_id) -> Section for that department. Register with @dashboard_section.
sections: list[Callable[[int], Section]] = []


def dashboard_section(fn: Callable[[int], Section]) -> Callable[[int], Section]:
    sections.append(fn)
    return fn


def sections_for(department_id: int) -> list[Section]:
    return sorted((fn(department_id) for fn in sections), key=lambda s: (s.order, s.key))
