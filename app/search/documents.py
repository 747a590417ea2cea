"""From an SOP revision to search documents: the whole SOP, and one document per section."""
import re
from dataclasses import dataclass

from pymdownx.slugs import slugify

from app.chinese import simplified
from app.search.analysis import fold, words
from app.search.pinyin import pinyin_terms
from app.sops.models import Sop, SopRevision

HEADING = re.compile(r"^(#{2,3})\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
MERMAID_LABEL = re.compile(r'\["?([^\]"]+)"?\]|\{"?([^}"]+)"?\}|\(\("?([^)"]+)"?\)\)|\("?([^)"]+)"?\)|\|([^|]+)\||subgraph\s+\w+\["([^"]+)"\]')
_slug = slugify(case="lower")


@dataclass
class Section:
    heading: str
    anchor: str
    text: str  # cleaned text under the heading
    flow: str  # mermaid labels in this section


def plain(markdown: str) -> str:
    """Markdown → readable text for indexing and snippets (markup removed, words kept)."""
    text = re.sub(r"^\s*\|?[\s:|-]+\|[\s:|-]*$", " ", markdown, flags=re.M)  # table separators
    text = re.sub(r"^\s*(!!!|\?\?\?\+?)\s*\w+\s*", "", text, flags=re.M)  # admonition markers
    text = re.sub(r"^\s*[-*+]\s+\[[ xX]\]\s*", "", text, flags=re.M)  # task boxes
    text = re.sub(r"^\s*#{1,6}\s*", "", text, flags=re.M)
    text = re.sub(r"\[\^\w+\]:?", "", text)  # footnote marks
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links and images keep their text
    text = re.sub(r"[*_`>|~]+", " ", text)
    return re.sub(r"[ \t]+", " ", re.sub(r"\n\s*\n+", "\n", text)).strip()


def mermaid_labels(code: str) -> str:
    return " ".join(next(g for g in m.groups() if g) for m in MERMAID_LABEL.finditer(code))


def sections(rev: SopRevision) -> list[Section]:
    """Split at ## and ### headings (outside code fences); anchors are the rendered page's ids."""
    toc_ids = [t["id"] for t in rev.toc]
    parts: list[dict] = [{"heading": "", "lines": [], "flow": []}]
    fence, fence_is_mermaid = None, False
    for line in rev.markdown.split("\n"):
        m = FENCE.match(line)
        if m and fence is None:
            fence, fence_is_mermaid = m.group(1), "mermaid" in line
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
            elif fence_is_mermaid:
                parts[-1]["flow"].append(line)
            else:
                parts[-1]["lines"].append(line)
            continue
        h = HEADING.match(line)
        if h:
            parts.append({"heading": h.group(2).strip(), "lines": [], "flow": []})
        else:
            parts[-1]["lines"].append(line)
    headed = parts[1:]
    anchors = toc_ids if len(toc_ids) == len(headed) else [_slug(p["heading"], "-") for p in headed]
    out = []
    if "\n".join(parts[0]["lines"]).strip():
        out.append(Section("", "", plain("\n".join(parts[0]["lines"])), mermaid_labels("\n".join(parts[0]["flow"]))))
    for part, anchor in zip(headed, anchors):
        out.append(Section(part["heading"], anchor, plain("\n".join(part["lines"])),
                           mermaid_labels("\n".join(part["flow"]))))
    return out


def documents(sop: Sop) -> list[dict]:
    """The whole-SOP document (its own sop_* fields, so ranking SOPs reads short posting lists) and its
    section documents, as Whoosh field dicts."""
    rev = sop.current
    meta = rev.meta
    common = {"code": sop.code, "title": rev.title, "department": sop.department.name,
              "tags": ",".join(simplified(t) for t in meta["tags"]), "hash": rev.content_hash}
    labels = " ".join([sop.code, sop.department.name, *meta["positions"], *meta["departments"], *meta["tags"]])
    parts = sections(rev)
    body = "\n".join(p.text for p in parts)
    headings = " ".join(p.heading for p in parts)
    text = " ".join([body, labels, " ".join(meta["attachments"]), *(p.flow for p in parts)])
    docs = [{**common, "doc_id": sop.code, "kind": "sop", "anchor": "", "section": "", "body": body, "folded": fold(body),
             "sop_title": rev.title, "sop_section": headings, "sop_text": text,
             "sop_gram": f"{rev.title} {headings} {text}", "sop_title_gram": f"{rev.title} {headings}",
             "sop_pinyin": pinyin_terms(f"{rev.title}\n{rev.title}\n{headings}\n{' '.join(meta['tags'])}", words)}]
    for p in parts:
        if p.anchor:
            text = f"{p.text} {labels} {p.flow}"
            docs.append({**common, "doc_id": f"{sop.code}#{p.anchor}", "kind": "section", "anchor": p.anchor,
                         "section": p.heading, "body": p.text, "folded": fold(p.text), "text": text,
                         "gram": f"{rev.title} {p.heading} {text}", "title_gram": f"{rev.title} {p.heading}"})
    return docs
