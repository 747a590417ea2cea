"""Pinyin for staff at a PC without a Chinese input method: `yeshen` or `ys` finds 夜审.

Only the words of titles, headings and tags get pinyin, never body text. Folding all text into pinyin makes
homophones collide everywhere (Meilisearch tried it and gave up: meilisearch/charabia#282): 期间 and 其间,
审核 and 身后 … In a title a clash costs a result further down the list; in the body it would bury the answer.
Pinyin is read only for a query typed all in Latin letters, and ranks below what matched as words
(query.py: ranked).

Each word of two or more characters gives two index terms: its full pinyin without tones (夜审 → yeshen) and
its initials (ys). pypinyin picks the reading of a polyphone from its phrase list; the words of our domain
that it reads wrong (重置 is chong zhi, not zhong zhi) are in DOMAIN_PHRASES.
"""
import os
import re
from functools import lru_cache

# pypinyin loads its whole phrase list (and a copy of each dictionary) on import: some 50 MB per worker. It gets
# only the phrases that change a reading (pinyin_phrases.py), which give the same pinyin.
os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "1")
from pypinyin import Style, lazy_pinyin, load_phrases_dict  # noqa: E402

from app.search import pinyin_phrases  # noqa: E402
from app.search.analysis import fold  # noqa: E402

# Polyphones in hotel, IT, customer-service and finance words, where pypinyin's default reading is wrong or
# unstable. Tone marks are pypinyin's phrase-dictionary format; they are dropped in the index.
DOMAIN_PHRASES = {
    "重置": "chóng zhì",
    "重启": "chóng qǐ",
    "重装": "chóng zhuāng",
    "重新": "chóng xīn",
    "重复": "chóng fù",
    "重试": "chóng shì",
    "重做": "chóng zuò",
    "重开": "chóng kāi",
    "重打": "chóng dǎ",
    "重登": "chóng dēng",
    "长住": "cháng zhù",
    "长住客": "cháng zhù kè",
    "长包房": "cháng bāo fáng",
    "长期": "cháng qī",
    "长按": "cháng àn",
    "银行": "yín háng",
    "行李": "xíng li",
    "行李员": "xíng li yuán",
    "行政": "xíng zhèng",
    "行政楼层": "xíng zhèng lóu céng",
    "发行": "fā xíng",
    "行业": "háng yè",
    "执行": "zhí xíng",
    "单据": "dān jù",
    "结账": "jié zhàng",
    "结算": "jié suàn",
    "调度": "diào dù",
    "调房": "tiáo fáng",
    "调价": "tiáo jià",
    "调整": "tiáo zhěng",
    "调试": "tiáo shì",
    "还款": "huán kuǎn",
    "还押金": "huán yā jīn",
    "押金": "yā jīn",
    "应收": "yīng shōu",
    "应付": "yīng fù",
    "应收账款": "yīng shōu zhàng kuǎn",
    "差异": "chā yì",
    "差旅": "chāi lǚ",
    "出差": "chū chāi",
    "夜审": "yè shěn",
    "宾客": "bīn kè",
    "会员": "huì yuán",
    "会计": "kuài jì",
    "便签": "biàn qiān",
    "便宜": "pián yi",
    "数据": "shù jù",
}
load_phrases_dict({w: [[syllable] for syllable in reading.split()]
                   for w, reading in {**pinyin_phrases.load(), **DOMAIN_PHRASES}.items()})

LATIN_QUERY = re.compile(r"^[a-zA-Z][a-zA-Z\s'-]*$")
HANZI = re.compile(r"[\u4e00-\u9fff]")


def is_latin_query(text: str) -> bool:
    """Only letters (and spaces, apostrophes, hyphens): what someone without a Chinese input method types."""
    return bool(LATIN_QUERY.match(text.strip()))


@lru_cache(maxsize=65536)
def word_pinyin(word: str) -> tuple[str, str] | None:
    """(full pinyin, initials) of a word of two or more Chinese characters, else None."""
    if len(word) < 2 or not all(HANZI.match(c) for c in word):
        return None
    syllables = lazy_pinyin(word, errors="ignore")
    if len(syllables) != len(word):
        return None
    initials = lazy_pinyin(word, style=Style.FIRST_LETTER, errors="ignore")
    return "".join(syllables), "".join(initials)


def pinyin_terms(text: str, split) -> str:
    """The pinyin index terms of text (titles, headings, tags), space separated, repeated as often as the
    words are (a title given twice counts twice); split is analysis.words.

    Each word is read in its own context, so pypinyin's phrase list (and DOMAIN_PHRASES) pick the reading."""
    out: list[str] = []
    for word, _s, _e in split(text):
        both = word_pinyin(word)
        if both:
            out += both
    folded = fold(text)
    for phrase in DOMAIN_PHRASES:  # a domain word jieba cuts otherwise (长住客 → 长 / 住客) still gets its reading
        if phrase in folded and len(phrase) > 1:
            out += word_pinyin(phrase) * folded.count(phrase)
    return " ".join(out)


def query_keys(text: str) -> list[str]:
    """What a Latin query can mean in the pinyin field: each word, and the words run together
    ("ye shen" → ye, shen, yeshen), lower case."""
    parts = [p for p in re.split(r"[\s'-]+", text.strip().lower()) if p]
    return list(dict.fromkeys(parts + (["".join(parts)] if len(parts) > 1 else [])))
