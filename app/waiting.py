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
    rank: int = 0  # breaks ties between items of one kind due the same day (e.g. the row id), as the SQL orders them

    def sort_key(self) -> tuple:
        due = self.due
        if isinstance(due, datetime):
            due = due.date()
        return (due is None, due or date.max, self.kind, self.rank, self.title, self.key)


# fn(user, limit) -> (items, total). Register with @waiting_for.
Provider = Callable[[object, int | None], tuple[Iterable[Item], int]]
providers: list[Provider] = []


def waiting_for(fn: Provider) -> Provider:
    """Register fn(user, limit) -> (items, total): how many items wait for `user` in all (`total`), and the `limit`
    most urgent of them in Item.sort_key order (all of them when `limit` is None; none when it is 0: the badge asks
    for the count only). A provider that can have many items (checklists: an IT engineer may have a thousand new
    hires' @IT items) does both in SQL, ORDER BY … LIMIT and a COUNT; one whose list is short may return all its
    items whatever the limit, since the registry sorts and trims."""
    providers.append(fn)
    return fn


def top_for(user, limit: int | None = None) -> tuple[list[Item], int]:
    """The `limit` most urgent items waiting for `user` (earliest due first, undated last; None: all), across every
    provider, and how many wait in all."""
    items, total = [], 0
    for fn in providers:
        some, n = fn(user, limit)
        items.extend(some)  # a short provider's may be more than `limit`, in any order: sorted and cut below
        total += n
    items.sort(key=Item.sort_key)
    return (items if limit is None else items[:limit]), total


def items_for(user, limit: int | None = None) -> list[Item]:
    """Everything waiting for `user` (or the `limit` most urgent), most urgent (earliest due) first."""
    return top_for(user, limit)[0]


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
    """The header badge: how many items wait for `user`, counted without building them. The same providers as the
    list, so the two agree."""
    return top_for(user, 0)[1]


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
