"""Rendered pages shared between users, with holes for the few per-request values.

A page such as an SOP is the same for everyone with the same role and language, except for
the CSRF token, the user's name and the current path in the header. We render it once with
markers in those places and fill them per request with str.replace, which is far cheaper than
running Jinja again. Features add holes of per-user HTML (the header's to-do badge) with
@page_hole. Knows no feature.
"""
from collections import OrderedDict
from typing import Callable

from flask import current_app, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import escape

HOLES = {"page_csrf": "__hole_csrf__", "page_user_name": "__hole_user_name__", "page_path": "__hole_path__"}
MAX_PAGES = 512  # about 20 KB each: ~10 MB per worker at most
fills: dict[str, Callable[[], str]] = {}  # hole name -> fn() giving this request's HTML (see page_hole)


def page_hole(name: str):
    """Register fn() -> HTML (already safe) as the template global `name`, a hole of cached pages. It is worked
    out only when a page prints it, at most once a request."""
    def register(fn: Callable[[], str]) -> Callable[[], str]:
        fills[name] = fn
        HOLES[name] = f"__hole_{name}__"
        return fn
    return register


class Lazy:
    """A hole's HTML, worked out the first time a template (or cached_page) prints it."""

    def __init__(self, fn: Callable[[], str]):
        self.fn, self.html = fn, None

    def __html__(self) -> str:
        if self.html is None:
            self.html = str(self.fn())
        return self.html

    __str__ = __html__


def page_values() -> dict:
    """The real values of the holes (also the template globals for pages that are not cached)."""
    return {
        "page_csrf": generate_csrf(),
        "page_user_name": current_user.display_name if current_user.is_authenticated else "",
        "page_path": request.full_path.rstrip("?"),
        **{name: Lazy(fn) for name, fn in fills.items()},
    }


def cached_page(key: tuple, render: Callable[..., str]) -> str:
    """Render once per key with markers in the holes, then fill the holes for this request.

    `render(**holes)` must pass the holes to render_template. A pending flash message bypasses the
    cache, because flashes belong to one user's next page.
    """
    if session.get("_flashes"):
        return render()
    pages: OrderedDict = current_app.extensions.setdefault("pagecache", OrderedDict())
    html = pages.get(key)
    if html is None:
        html = pages[key] = render(**HOLES)
        if len(pages) > MAX_PAGES:
            pages.popitem(last=False)
    values = page_values()
    for name, marker in HOLES.items():
        if marker in html:
            html = html.replace(marker, str(escape(values[name])))
    return html
