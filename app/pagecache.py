"""Rendered pages shared between users, with holes for the few per-request values.

A page such as an SOP is the same for everyone with the same role and language, except for
the CSRF token, the user's name and the current path in the header. We render it once with
markers in those places and fill them per request with str.replace, which is far cheaper than
running Jinja again. Knows no feature.
"""
from collections import OrderedDict
from typing import Callable

from flask import current_app, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import escape

HOLES = {"page_csrf": "__hole_csrf__", "page_user_name": "__hole_user_name__", "page_path": "__hole_path__"}
MAX_PAGES = 512  # about 20 KB each: ~10 MB per worker at most


def page_values() -> dict:
    """The real values of the holes (also the template globals for pages that are not cached)."""
    return {
        "page_csrf": generate_csrf(),
        "page_user_name": current_user.display_name if current_user.is_authenticated else "",
        "page_path": request.full_path.rstrip("?"),
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
        html = html.replace(marker, str(escape(values[name])))
    return html
