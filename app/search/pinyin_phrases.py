"""The few pypinyin phrases that matter, so a worker need not load all of them (issue #14: RSS per worker).

pypinyin's phrase list (about 47,000 words, some 50 MB in a Python process) exists to read polyphones in
context. A phrase whose reading is just each character's default reading changes nothing; only the others
(空调 kong tiao, 长度 chang du, 目的 mu di …) are kept, in pinyin_phrases.json, made by `build()` from the
installed pypinyin. tests/test_search_features.py checks the file still matches the installed pypinyin, so an
upgrade that changes readings fails loudly instead of drifting.
"""
import json
import unicodedata
from pathlib import Path

FILE = Path(__file__).with_name("pinyin_phrases.json")


def toneless(syllable: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", syllable) if not unicodedata.combining(c))


def build() -> dict[str, str]:
    """{phrase: "kōng tiáo"} for each phrase of pypinyin's list read otherwise than character by character.
    Imports the whole list: run it in a process of its own (a test, or by hand), never in a worker."""
    from pypinyin.phrases_dict import phrases_dict
    from pypinyin.pinyin_dict import pinyin_dict

    kept = {}
    for phrase, readings in phrases_dict.items():
        defaults = [pinyin_dict.get(ord(ch), "").split(",")[0] for ch in phrase]
        if all(defaults) and [toneless(r[0]) for r in readings] != [toneless(d) for d in defaults]:
            kept[phrase] = " ".join(r[0] for r in readings)
    return dict(sorted(kept.items()))


def load() -> dict[str, str]:
    return json.loads(FILE.read_text(encoding="utf-8"))


if __name__ == "__main__":  # python -m app.search.pinyin_phrases: rewrite the file after a pypinyin upgrade
    FILE.write_text(json.dumps(build(), ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {len(load())} phrases to {FILE}")
