"""Markdown → sanitised HTML, once per revision. Mermaid fences become diagrams drawn in the browser."""
import html as htmllib
import re

import markdown
import nh3
from markdown.extensions import Extension
from markdown.treeprocessors import InlineProcessor
from markupsafe import escape
from pymdownx.slugs import slugify
from pymdownx.superfences import fence_div_format

RENDERER = 2  # bump when the output changes; sync re-renders older revisions

EXTENSIONS = [
    "tables", "footnotes", "admonition", "toc", "sane_lists", "pymdownx.details", "pymdownx.superfences",
    "pymdownx.tasklist", "pymdownx.tilde", "pymdownx.mark",
]
CONFIG = {
    "toc": {"slugify": slugify(case="lower"), "toc_depth": "2-3", "permalink": False},
    "tables": {"use_align_attribute": True},
    "pymdownx.superfences": {
        "custom_fences": [{"name": "mermaid", "class": "mermaid", "format": fence_div_format}],
    },
    "pymdownx.tasklist": {"custom_checkbox": False},
}

TAGS = (nh3.ALLOWED_TAGS - {"map", "area"}) | {"input", "details", "summary"}
ATTRIBUTES = {
    **{tag: {"id"} for tag in ("h1", "h2", "h3", "h4", "h5", "h6", "li", "sup", "div")},
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "ol": {"start"},
    "input": {"checked", "disabled"},
    "details": {"open"},
}
CLASSES = {
    "div": {"admonition", "note", "warning", "tip", "danger", "important", "caution", "mermaid", "footnote"},
    "p": {"admonition-title"},
    "ul": {"task-list"},
    "li": {"task-list-item"},
    "a": {"footnote-ref", "footnote-backref"},
    "details": {"note", "warning", "tip"},
    "code": None,
}


def sanitise(html: str) -> str:
    """Only listed tags/attributes survive: no hx-*, no on*, no javascript:/data: URLs, no style."""
    return nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "style"},
        attributes=ATTRIBUTES,
        tag_attribute_values={"input": {"type": {"checkbox"}}},
        allowed_classes={k: v for k, v in CLASSES.items() if v},
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer",
    )


# Every inline pattern in use needs one of these (code `, escape \\, links and footnotes [ ] !, autolinks and raw HTML
# < >, entities &, emphasis * _, pymdownx tilde/mark ~ =, footnote ^, a line break "  \n") or a stashed
# placeholder (STX/ETX). Text with none of them is left as it is by every pattern.
MARKUP = re.compile(r"[`\\\[\]!<>&*_~=^\x02\x03]|  \n")


class PlainTextInline(InlineProcessor):
    """Python-Markdown's inline processor, but a text with no markup character skips the ~16 pattern searches:
    Chinese step tables are mostly such text, and those searches were most of a 20 KB SOP's render (the preview's
    budget). The output is the same (tests/test_sops.py compares it with stock Python-Markdown)."""

    def _InlineProcessor__handleInline(self, data: str, patternIndex: int = 0) -> str:  # noqa: N802 - the parent's name
        if MARKUP.search(data) is None:
            return data
        return super()._InlineProcessor__handleInline(data, patternIndex)


class PlainTextInlineExtension(Extension):
    def extendMarkdown(self, md):  # noqa: N802 - Python-Markdown's name
        md.treeprocessors.register(PlainTextInline(md), "inline", 20)  # replaces the stock one, same priority


def render_markdown(text: str, fast: bool = True) -> tuple[str, list[dict], bool]:
    """Return (safe HTML, table of contents, whether it has a diagram). fast=False is stock Python-Markdown."""
    md = markdown.Markdown(extensions=EXTENSIONS + ([PlainTextInlineExtension()] if fast else []),
                           extension_configs=CONFIG)
    html = label_checkboxes(sanitise(md.convert(text)))
    toc = [{"level": t["level"], "id": t["id"], "name": t["name"]} for t in flatten(md.toc_tokens)]
    return html, toc, 'class="mermaid"' in html


# A task-list checkbox and the text after it, up to a nested list or the end of the item or paragraph.
CHECKBOX = re.compile(r'<input type="checkbox"([^>]*)>(.*?)(?=<ul|<ol|</li>|</p>|<input|$)', re.DOTALL)
TAG = re.compile(r"<[^>]+>")


def label_checkboxes(html: str) -> str:
    """Name each task-list checkbox after its item's text, so a screen reader says what is to be done."""
    def named(m: re.Match) -> str:
        text = " ".join(htmllib.unescape(TAG.sub("", m.group(2))).split())
        label = f' aria-label="{escape(text)}"' if text else ""
        return f'<input type="checkbox"{m.group(1)}{label}>{m.group(2)}'
    return CHECKBOX.sub(named, html)


def flatten(tokens: list[dict]) -> list[dict]:
    out = []
    for t in tokens:
        out.append(t)
        out.extend(flatten(t.get("children", [])))
    return out


def link_attachments(html: str, names, url) -> str:
    """Point images named bare in the Markdown (`![](plan.png)`, as the Word import writes them) at the route that
    serves that attachment: url(name). Only names the revision (or draft) lists are touched."""
    for name in names:
        html = html.replace(f'src="{escape(name)}"', f'src="{escape(url(name))}"')
    return html
