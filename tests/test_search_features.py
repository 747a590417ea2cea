"""Issue #14: pinyin, built-in synonyms (and the admin adding one from the report), landing on the section that
answers, honest partial results. Run on the demo content; the second corpus is bench work (bench/README.md)."""
import os
import shutil

import pytest

from app.search import index as search_index
from app.search.analysis import fold, words
from app.search.builtin_synonyms import combine
from app.search.pinyin import is_latin_query, pinyin_terms, query_keys
from app.search.query import search
from tests.conftest import ROOT


@pytest.fixture
def indexed(app):
    search_index.rebuild()
    return app


def codes(results) -> list[str]:
    return [h.code for h in results.hits]


# --- pinyin -----------------------------------------------------------------------------------------

def test_pinyin_terms_are_full_pinyin_and_initials_of_words_with_domain_polyphones():
    assert pinyin_terms("夜审操作规程", words).split()[:2] == ["yeshen", "ys"]
    assert {"chongzhi", "cz"} <= set(pinyin_terms("密码重置", words).split())  # not zhongzhi
    assert "changzhuke" in pinyin_terms("长住客登记", words).split()  # not zhangzhuke
    assert "yinhang" in pinyin_terms("银行转账", words).split()
    assert set(pinyin_terms("PMS 客户端", words).split()) == {"kehu", "kh", "kehuduan", "khd"}  # none for PMS


def test_only_a_query_all_in_latin_letters_reads_pinyin():
    assert is_latin_query("yeshen") and is_latin_query("ye shen") and is_latin_query("TeamViewer")
    assert not is_latin_query("夜审") and not is_latin_query("FO-NA-001") and not is_latin_query("Windows 11")
    assert query_keys("Ye Shen") == ["ye", "shen", "yeshen"]


@pytest.mark.parametrize("typed", ["yeshen", "ys", "ye shen", "YeShen"])
def test_full_pinyin_and_initials_find_the_night_audit(indexed, typed):
    r = search(typed)
    assert r.hits and r.hits[0].code == "FO-NA-001", codes(r)


def test_pinyin_is_not_read_for_hanzi_or_body_text(indexed):
    assert codes(search("夜审"))[0] == "FO-NA-001"
    # 滚日 is in the night audit's body and headings; its pinyin is indexed only from the headings and tags.
    found = search("gunri")
    assert found.hits and found.hits[0].code == "FO-NA-001"
    # a word that is in no title, heading or tag has no pinyin in the index, even if its characters are in a body
    assert search("yiwei").total == 0 or all("异味" in h.title or "异味" in h.section for h in search("yiwei").hits)


def test_english_words_still_rank_as_words_above_pinyin(indexed):
    r = search("TeamViewer")
    assert r.hits and "TeamViewer".lower() in (r.hits[0].title + str(r.hits[0].snippet)).lower()
    assert codes(search("pms"))[:3] == codes(search("PMS"))[:3]


# --- landing on the section that answers -------------------------------------------------------------

def test_purpose_and_scope_sections_answer_only_when_nothing_else_does(indexed):
    hit = search("会员页面打不开")
    assert hit.hits[0].code == "IT-MEM-001"
    assert hit.hits[0].section == "故障判断", hit.hits[0].section  # 目的 says the same words in passing
    from app.search.ranking import is_preamble
    assert is_preamble("目的") and is_preamble("二、适用范围") and is_preamble("Scope") and not is_preamble("目的地")


# --- built-in synonyms ---------------------------------------------------------------------------------

def test_builtin_synonyms_ship_with_the_app_and_the_content_file_adds_and_withdraws():
    groups = combine("", fold)
    assert {"计算机"} <= groups["电脑"] and "病毒" in groups["中毒"] and "离店" in groups["退房"]
    assert {"顾客", "宾客"} <= groups["客人"] and "票据" in groups["发票"] and "关闭" in groups["关机"]
    own = combine("鸵鸟 大鸟\n!关闭\n", fold)
    assert own["鸵鸟"] == {"鸵鸟", "大鸟"}
    assert "关闭" not in own["关机"] and "关闭" not in own  # withdrawn from the built-in list
    assert combine("電腦 微機", fold)["电脑"] >= {"计算机", "微机"}  # Traditional folded; added to the built-in group


def test_builtin_synonym_finds_what_the_content_file_does_not_list(app, tmp_path):
    root = tmp_path / "content"
    shutil.copytree(ROOT / "content", root)
    (root / "search" / "synonyms.txt").write_text("# empty: only the built-in list\n", encoding="utf-8")
    app.config.update(SOP_DIR=str(root / "sops"), CONTENT_DIR=str(root))
    search_index.rebuild()
    assert "IT-SEC-002" in codes(search("电脑中毒了怎么办"))[:3]  # 中毒 = 病毒 is built in
    with_builtin = search("顾客").total  # 顾客 finds the SOPs that say 客人 or 宾客
    (root / "search" / "synonyms.txt").write_text("!顾客  # withdrawn\n", encoding="utf-8")
    os.utime(root / "search" / "synonyms.txt", (1, 1))  # a different mtime: re-read at the next search
    assert search("顾客").total < with_builtin
