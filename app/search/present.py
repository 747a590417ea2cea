"""What a search shows: hits, snippets in the script the SOP was written in, suggestions for nothing found."""
import difflib
import html
import logging
from dataclasses import dataclass, field

from markupsafe import Markup

from app.search.analysis import fold
from app.search.synonyms import synonyms

log = logging.getLogger(__name__)


@dataclass
class Hit:
    code: str
    title: str
    section: str
    anchor: str
    department: str
    score: float
    snippet: Markup

    @property
    def url_fragment(self) -> str:
        return f"#{self.anchor}" if self.anchor else ""


@dataclass
class Results:
    query: str
    terms: list[str]
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    page: int = 1
    pages: int = 0
    suggestions: list[str] = field(default_factory=list)
    error: str = ""
    missing: list[str] = field(default_factory=list)  # distinctive terms that matched nothing
    found: list[str] = field(default_factory=list)  # the terms the results hold, when some are missing


def partial(terms: list[str], matched: dict[str, int]) -> tuple[list[str], list[str]]:
    """(missing, found): the typed words no SOP holds, and those the results hold, each without the parts of
    a longer word beside it (jieba gives 售后服务 and 售后, 服务). A word counts as missing when it matches
    nothing and no shorter word of it matched (醉酒客人: 醉酒 missing, 客人 found)."""
    hit = [t for t in terms if matched.get(t)]
    missing = [t for t in terms if not matched.get(t, 1) and not any(h in t for h in hit)]
    missing = [t for t in missing if not any(t != o and t in o for o in missing)]
    found = [t for t in hit if not any(t != o and t in o for o in hit)]
    return (missing, found) if missing and found else ([], [])


def snippet(text: str, terms: list[str], folded_text: str | None = None, width: int = 90) -> Markup:
    """A window of the original text (in its own script) around the first match, matches in <mark>.
    folded_text is fold(text) when the caller has it (folding keeps every character in place)."""
    original = text.replace("\n", " ")
    folded = (folded_text if folded_text is not None else fold(text)).replace("\n", " ")
    needles = sorted({t for term in terms for t in synonyms().expand(term)}, key=len, reverse=True)
    spans = []
    for needle in needles:
        start = folded.find(needle)
        while start != -1 and needle:
            if not any(s < start + len(needle) and start < e for s, e in spans):
                spans.append((start, start + len(needle)))
            start = folded.find(needle, start + 1)
    spans.sort()
    first = spans[0][0] if spans else 0
    lo = max(0, first - width // 3)
    hi = min(len(original), lo + width)
    out, pos = [], lo
    for s, e in spans:
        if s < lo or e > hi:
            continue
        out += [html.escape(original[pos:s]), "<mark>", html.escape(original[s:e]), "</mark>"]
        pos = e
    out.append(html.escape(original[pos:hi]))
    return Markup(("…" if lo > 0 else "") + "".join(out) + ("…" if hi < len(original) else ""))


def suggest(searcher, terms: list[str], text: str) -> list[str]:
    """Close words from the index vocabulary and close titles, for a query that found nothing."""
    out: list[str] = []
    for term in terms:
        try:
            out += [s for s in searcher.corrector("text").suggest(term, limit=3, maxdist=1) if s != term]
        except Exception:  # noqa: BLE001 - a suggestion is a nicety, never an error: logged, and the page goes on
            log.exception("search: spelling suggestions for %r failed", term)
    titles = {fold(f["title"]): f["title"] for f in searcher.documents(kind="sop")}
    out += [titles[t] for t in difflib.get_close_matches(fold(text), list(titles), n=3, cutoff=0.4)]
    return list(dict.fromkeys(out))[:6]
