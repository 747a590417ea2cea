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
from whoosh.analysis import Token, Tokenizer

from app.chinese import T2S

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


@lru_cache(maxsize=65536)
def _line_words(line: str) -> tuple[tuple[str, int, int], ...]:
    out = []
    for word, start, end in jieba.tokenize(fold(line), mode="search"):
        word = word.strip()
        if word and word not in STOPWORDS and not PUNCT.match(word):
            out.append((word, start, end))
    return tuple(out)


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


class _Tokens(Tokenizer):
    split = staticmethod(words)

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, mode="", **kwargs):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for pos, (text, start, end) in enumerate(self.split(value)):
            token.text = text
            token.boost = 1.0
            token.stopped = False
            if positions:
                token.pos = start_pos + pos
            if chars:
                token.startchar, token.endchar = start_char + start, start_char + end
            yield token


class WordTokenizer(_Tokens):
    split = staticmethod(words)


class BigramTokenizer(_Tokens):
    split = staticmethod(bigrams)
