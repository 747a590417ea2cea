"""Panels that features add to the home page, so the home page needs to know no feature."""
from typing import Callable

from markupsafe import Markup

home_panels: list[Callable[[], str]] = []


def home_panel(render: Callable[[], str]) -> Callable[[], str]:
    """Register a function that renders one panel of the home page (in the order registered)."""
    home_panels.append(render)
    return render


def render_home_panels() -> list[Markup]:
    return [Markup(render()) for render in home_panels]


# Lines that features add to a manager's reminder summary (`flask acks remind`): fn(user) -> lines, e.g. the
# department's overdue SOP reviews. The digest asks the registry, so acks needs to know no feature above it.
digest_notes: list[Callable[[object], list[str]]] = []


def digest_note(fn: Callable[[object], list[str]]) -> Callable[[object], list[str]]:
    digest_notes.append(fn)
    return fn


def notes_for(user) -> list[str]:
    return [line for fn in digest_notes for line in fn(user)]
