"""Text analysis shared by indexing and querying, so both sides see the same tokens.

- fold(): Traditional → Simplified (OpenCC t2s) and lower case, keeping every character's offset,
  so a hit found in folded text can be highlighted in the original script.
- WordTokenizer: jieba search-mode words over the folded text, minus question words and particles.
- BigramTokenizer: overlapping character pairs, so text jieba segments differently still matches.
"""
import logging
import re
import threading
import unicodedata
from functools import lru_cache

import jieba

from app.chinese import T2S
from app.search.whoosh_adapter import ListTokenizer

jieba.setLogLevel(logging.WARNING)
_t2s = T2S
_jieba_ready = threading.Lock()

# Question words and particles: staff type questions, not keywords (服务器怎么关机).
STOPWORDS = frozenset(
    "怎么 怎么办 怎么样 怎样 如何 什么 为什么 为何 哪些 哪个 哪里 哪儿 是否 能否 可以 能不能 要不要 请问 一下 "
    "了 的 地 得 吗 呢 吧 啊 呀 嘛 么 是 在 和 与 及 或 有 就 都 也 还 要 会 我 我们 你 您 他 她 它 这 那 这个 那个 "
    "该 怎 办 时 后 中 对 把 被 给 让 从 到 a an the of to is are how what why do does i".split()
)
PUNCT = re.compile(r"^[\W_]+$", re.UNICODE)


def init_jieba(cache_dir: str) -> None:
    """Load jieba's dictionary once, caching its prefix table in cache_dir (instance/)."""
    with _jieba_ready:
        if not jieba.dt.initialized:
            jieba.dt.tmp_dir = cache_dir
            jieba.initialize()


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    out = _t2s.convert(ch)
    return out if len(out) == 1 else ch


def _width(text: str) -> str:
    """Full-width letters and digits → ASCII, character for character."""
    if text.isascii():
        return text
    out = unicodedata.normalize("NFKC", text)
    return out if len(out) == len(text) else "".join(_nfkc_char(c) for c in text)


@lru_cache(maxsize=4096)
def _nfkc_char(ch: str) -> str:
    out = unicodedata.normalize("NFKC", ch)
    return out if len(out) == 1 else ch


def fold(text: str) -> str:
    """Simplified, lower case, half-width — and exactly as long as text, so offsets in the folded text
    are offsets in the original (that is how snippets keep the script the SOP was written in)."""
    text = _width(text)
    folded = _t2s.convert(text)
    if len(folded) != len(text):  # a phrase conversion changed the length: convert char by char
        folded = "".join(_fold_char(c) for c in text)
    return folded.lower()


# jieba cuts a line's runs of CJK, letters and digits (jieba.re_han_default) one by one, each on its own, and
# every other character is a token of its own: segmenting run by run gives the same words as the whole line.
_RUN = jieba.re_han_default


@lru_cache(maxsize=131072)
def _run_words(run: str) -> tuple[tuple[str, int, int], ...]:
    """jieba's search-mode words of one run (offsets in the run), question words and punctuation removed."""
    return tuple((w, s, e) for w, s, e in jieba.tokenize(run, mode="search") if _kept(w))


def _kept(word: str) -> bool:
    return bool(word) and word not in STOPWORDS and not PUNCT.match(word)


@lru_cache(maxsize=65536)
def _line_words(line: str) -> tuple[tuple[str, int, int], ...]:
    """The words of a folded line: as jieba.tokenize(line, mode="search"), stripped and filtered, with each
    run segmented once (a rebuild meets the same sentences in many sections)."""
    out, pos = [], 0
    for part in _RUN.split(fold(line)):
        if _RUN.match(part):
            out += [(w, s + pos, e + pos) for w, s, e in _run_words(part)]
        else:  # spaces and punctuation: jieba yields each character (or \r\n) apart
            out += [(c.strip(), pos + i, pos + i + 1) for i, c in enumerate(part) if _kept(c.strip())]
        pos += len(part)
    return tuple(out)


def clear_caches() -> None:
    """Forget the lines and runs segmented (after a rebuild: a worker keeps only what its queries use)."""
    _line_words.cache_clear()
    _run_words.cache_clear()


def words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) in folded text, question words and punctuation removed.

    Segmented line by line (no word spans a line break), with a cache: a section's lines come again in
    its whole-SOP document, so a rebuild segments each line once.
    """
    out, pos = [], 0
    for line in text.split("\n"):
        out += [(w, s + pos, e + pos) for w, s, e in _line_words(line)]
        pos += len(line) + 1
    return out


def bigrams(text: str) -> list[tuple[str, int, int]]:
    """Overlapping pairs inside each run of letters/digits/CJK; a lone character stands for itself."""
    out = []
    for m in re.finditer(r"[^\W_]+", fold(text)):
        run, base = m.group(), m.start()
        if len(run) == 1:
            out.append((run, base, base + 1))
        out += [(run[i:i + 2], base + i, base + i + 2) for i in range(len(run) - 1)]
    return out


class WordTokenizer(ListTokenizer):
    split = staticmethod(words)


class BigramTokenizer(ListTokenizer):
    split = staticmethod(bigrams)
