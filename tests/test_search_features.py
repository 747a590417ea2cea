"""Issue #14: pinyin, built-in synonyms (and the admin adding one from the report), landing on the section that
answers, honest partial results. Run on the demo content; the second corpus is bench work (bench/README.md)."""
import os
import shutil

import pytest

from app.search import index as search_index
from app.search.analysis import fold, words
from app.search.builtin_synonyms import combine
from app.search.pinyin import is_latin_query, pinyin_terms, query_keys, word_pinyin
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


def test_the_worker_keeps_only_the_phrases_that_change_a_reading_and_reads_as_pypinyin_does():
    """pypinyin's full phrase list costs ~50 MB per worker; the kept file must be exactly its phrases that
    change a reading, so the pinyin is the same (an upgrade that changes readings fails here)."""
    import sys
    from app.search import pinyin_phrases
    assert "pypinyin.phrases_dict" not in sys.modules or os.environ.get("PYPINYIN_NO_PHRASES")
    assert pinyin_phrases.load() == pinyin_phrases.build()
    assert word_pinyin("空调") == ("kongtiao", "kt") and word_pinyin("目的") == ("mudi", "md")
    assert word_pinyin("长度") == ("changdu", "cd") and word_pinyin("还原") == ("huanyuan", "hy")


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


# --- honest partial results and the report --------------------------------------------------------------

def test_a_distinctive_word_that_matches_nothing_is_named(indexed):
    r = search("醉酒客人")
    assert r.hits and r.missing == ["醉酒"] and r.found == ["客人"]
    assert search("客人投诉").missing == []  # every word found something
    assert search("醉酒").missing == [] and search("醉酒").total == 0  # nothing at all: the empty page says so


def test_partial_results_are_shown_and_logged_for_the_report(app, indexed):
    from tests.conftest import Auth
    staff, manager = Auth(app.test_client()), Auth(app.test_client())
    staff.login("fo.staff"), manager.login("fo.manager")
    html = staff.client.get("/search?q=醉酒客人").get_data(as_text=True)
    assert "醉酒" in html and 'id="partial-results"' in html and "客人" in html
    report = manager.client.get("/search/report").get_data(as_text=True)
    assert "<td>醉酒客人</td><td>醉酒</td>" in report
    assert "synonyms.txt" not in report and "content/" not in report  # no file paths for managers


def test_report_candidates_look_like_the_missing_word(indexed):
    from app.search.report import candidate_synonyms
    with indexed.app_context():
        assert "teamviewer" in candidate_synonyms("teamviewr")
        latin = candidate_synonyms("cash")
        assert "teamviewer" not in latin and "cache" not in latin  # sharing two letters is not looking alike
        for word in candidate_synonyms("连不上网"):
            assert any(word.find(pair) >= 0 for pair in ("连不", "不上", "上网"))


def test_admin_adds_a_synonym_from_the_report(app, tmp_path):
    root = tmp_path / "content"
    shutil.copytree(ROOT / "content", root)
    app.config.update(SOP_DIR=str(root / "sops"), CONTENT_DIR=str(root))
    search_index.rebuild()
    from app.audit import AuditEvent
    from app.extensions import db
    from tests.conftest import Auth
    admin, manager = Auth(app.test_client()), Auth(app.test_client())
    admin.login("admin"), manager.login("fo.manager")
    assert search("喝醉").total == 0
    before = (root / "search" / "synonyms.txt").read_text(encoding="utf-8")
    # a manager sees the report but may not change the list; without the token nothing changes either
    assert manager.post("/search/report/synonyms", {"word": "喝醉", "synonyms": "投诉"}, "/search/report").status_code == 403
    assert admin.client.post("/search/report/synonyms", data={"word": "喝醉", "synonyms": "投诉"}).status_code == 400
    bad = admin.post("/search/report/synonyms", {"word": "喝醉", "synonyms": ""}, "/search/report")
    assert bad.status_code == 303 and "word=%E5%96%9D%E9%86%89" in bad.headers["Location"]  # the word typed is kept
    assert (root / "search" / "synonyms.txt").read_text(encoding="utf-8") == before
    r = admin.post("/search/report/synonyms", {"word": "喝醉", "synonyms": "投诉 客诉"}, "/search/report")
    assert r.status_code == 303
    text = (root / "search" / "synonyms.txt").read_text(encoding="utf-8")
    assert text.startswith(before) and text.endswith("喝醉 投诉 客诉\n")
    with app.app_context():
        event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "search.synonym_added")).one()
        assert event.actor == "admin" and "喝醉" in event.detail
    assert search("喝醉").total > 0  # in effect without a restart


def test_partial_result_message_in_chinese_and_english(app, indexed):
    from tests.conftest import Auth
    staff = Auth(app.test_client())
    staff.login("fo.staff")
    assert "没有找到「醉酒」；以下结果只包含「客人」" in staff.client.get("/search?q=醉酒客人").get_data(as_text=True)
    staff.post("/language", {"lang": "en"})
    english = staff.client.get("/search?q=醉酒客人").get_data(as_text=True)
    assert "Nothing found for “醉酒”; the results below contain only “客人”." in english
