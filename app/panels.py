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
