"""All htmx detection lives here; views never read HX-* headers themselves."""
from flask import Response, make_response, render_template, request


def wants_fragment() -> bool:
    """An htmx swap asks for a fragment; a boosted or history-restore request needs the page."""
    hx = request.htmx
    return bool(hx) and not hx.boosted and not hx.history_restore_request


def is_htmx() -> bool:
    return bool(request.htmx)


def render(page: str, fragment: str, status: int = 200, **ctx) -> Response:
    """Render the fragment for an htmx swap, the full page otherwise (the page includes the fragment)."""
    resp = make_response(render_template(fragment if wants_fragment() else page, **ctx), status)
    resp.vary.add("HX-Request")
    return resp


def redirect_htmx(url: str, status: int = 200) -> Response:
    """Send the browser to url from inside an htmx request, instead of swapping a page into a div."""
    resp = make_response("", status)
    resp.headers["HX-Redirect"] = url
    return resp


def notify(message_html: str, status: int) -> Response:
    """An error or notice for an htmx request, swapped into the page's #flash area."""
    resp = make_response(message_html, status)
    resp.headers["HX-Retarget"] = "#flash"
    resp.headers["HX-Reswap"] = "innerHTML"
    resp.vary.add("HX-Request")
    return resp
