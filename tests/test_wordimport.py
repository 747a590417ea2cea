"""Word import (issue #17, section 3): .docx/.md/.txt → Markdown + attachments + report, the draft it starts,
`flask sops import`, and the bad inputs. The .docx files are built here with python-docx."""
import io
import json
import struct
import zipfile

import docx
import pytest
import sqlalchemy as sa
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from docx.shared import Cm

from app.authoring.drafts import check_draft
from app.authoring.importing import build_sop_text, import_upload
from app.authoring.models import Draft, DraftAttachment
from app.authoring.permissions import AuthoringError
from app.authoring.wordimport import (OLE_MAGIC, WordImportError, chinese, convert_docx, convert_file,
                                      convert_text)
from app.auth.models import User
from app.extensions import db
from app.org import department_by_name
from app.sops.models import SopRevision
from app.sops.render import render_markdown
from demo.make_word_manual import OUT as DEMO, add_numbering, bold, header_footer, number, png, table, toc_style

GREEN = png(8, 8, [(0, 0, 8, 8, (0, 128, 0))])
BLUE = png(8, 8, [(0, 0, 8, 8, (0, 0, 255))])


def data(document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def body(document) -> str:
    return convert_docx(data(document)).markdown


# --- the outline rules ---------------------------------------------------------------------------------

def test_typed_outline_in_bold_normal_paragraphs():
    d = docx.Document()
    bold(d, "一、目的")
    d.add_paragraph("说明本规程的目的。")
    bold(d, "二、操作流程")
    bold(d, "（一）准备")
    d.add_paragraph("1、核对名单。")
    d.add_paragraph("2、预分房。")
    d.add_paragraph("3、打印房卡袋。")
    bold(d, "（二）接待")
    d.add_paragraph("1、迎候")
    d.add_paragraph("大巴到达前 10 分钟在门口迎候。")
    d.add_paragraph("2. 登记")
    d.add_paragraph("逐一刷证。")
    d.add_paragraph("（1）身份证")
    d.add_paragraph("（2）护照")
    assert body(d) == (
        "## 目的\n\n说明本规程的目的。\n\n## 操作流程\n\n### 准备\n\n"
        "1. 核对名单。\n2. 预分房。\n3. 打印房卡袋。\n\n"
        "### 接待\n\n#### 迎候\n\n大巴到达前 10 分钟在门口迎候。\n\n#### 登记\n\n逐一刷证。\n\n1. 身份证\n2. 护照\n")


def test_a_list_followed_by_a_paragraph_stays_a_list_and_long_lines_stay_text():
    d = docx.Document()
    d.add_paragraph("一、" + "这一行是一句很长的话而不是标题" * 5 + "。")
    d.add_paragraph("1、检查证件；")
    d.add_paragraph("（1）身份证")
    d.add_paragraph("（2）护照")
    d.add_paragraph("2、录入系统；")
    d.add_paragraph("完成后交给主管复核。")
    md = body(d)
    assert md.startswith("一、这一行") and (
        "\n\n1. 检查证件；\n    1. 身份证\n    2. 护照\n2. 录入系统；\n\n完成后交给主管复核。\n") in md
    assert "#" not in md


def test_heading_styles_english_and_chinese():
    d = docx.Document()
    d.add_paragraph("目的", style="Heading 1")
    d.add_paragraph("范围说明", style="Heading 2")
    d.add_paragraph("细则", style="Heading 3")
    d.add_paragraph("1 职责", style="Heading 1")  # a style heading with an arabic number keeps its style level
    wps = d.styles.add_style("标题 1", WD_STYLE_TYPE.PARAGRAPH)
    d.add_paragraph("附则", style=wps)
    d.add_paragraph("（一）记录", style="Heading 1")  # a Chinese prefix decides the level
    assert body(d) == "## 目的\n\n### 范围说明\n\n#### 细则\n\n## 职责\n\n## 附则\n\n### 记录\n"


def test_a_document_starting_at_heading_2_is_not_shifted_down():
    d = docx.Document()
    d.add_paragraph("目的", style="Heading 2")
    d.add_paragraph("细则", style="Heading 3")
    assert body(d) == "## 目的\n\n### 细则\n"
    bold(d, "一、职责")  # a typed 一、 holds ##: the styles keep their own levels
    assert body(d) == "### 目的\n\n#### 细则\n\n## 职责\n"


def test_word_automatic_numbering_is_read_from_numbering_xml():
    d = docx.Document()
    num = add_numbering(d, [("chineseCounting", "%1、"), ("chineseCounting", "（%2）"), ("decimal", "%3、")])
    number(bold(d, "目的"), num, 0)
    d.add_paragraph("正文。")
    number(bold(d, "流程"), num, 0)
    number(d.add_paragraph("准备"), num, 1)
    number(d.add_paragraph("核对名单。"), num, 2)
    number(d.add_paragraph("预分房。"), num, 2)
    number(d.add_paragraph("接待"), num, 1)
    number(d.add_paragraph("迎候。"), num, 2)  # restarts at 1 under a new （二）
    for title in ("三", "四", "五", "六", "七", "八", "九", "十", "十一"):
        number(d.add_paragraph(f"第{title}节"), num, 0)
    result = convert_docx(data(d))
    assert result.markdown.startswith(
        "## 目的\n\n正文。\n\n## 流程\n\n### 准备\n\n1. 核对名单。\n2. 预分房。\n\n### 接待\n\n1. 迎候。\n\n## 第三节\n")
    assert result.markdown.endswith("## 第十节\n\n## 第十一节\n")
    assert any("automatic numbering" in line and "(for example 一、 二、 （一）)" in line for line in result.report)


def test_automatic_numbering_with_a_start_value_on_a_heading_style():
    d = docx.Document()
    num = add_numbering(d, [("chineseCounting", "%1、")], start=5)
    number(d.add_paragraph("分房", style="Heading 1"), num, 0)
    number(d.add_paragraph("记录", style="Heading 1"), num, 0)
    d.add_paragraph("正文。")
    result = convert_docx(data(d))
    assert result.markdown == "## 分房\n\n## 记录\n\n正文。\n"
    assert "五、 六、" in " ".join(result.report)


@pytest.mark.parametrize("n,text", [(1, "一"), (10, "十"), (11, "十一"), (20, "二十"), (21, "二十一"),
                                    (100, "一百"), (105, "一百零五"), (110, "一百一十"), (999, "九百九十九")])
def test_chinese_counting(n, text):
    assert chinese(n) == text


# --- tables, images, what is left out -----------------------------------------------------------------

def test_step_tables_stay_pipe_tables():
    d = docx.Document()
    t = table(d, [("步骤", "标准", "提示"), ("1. 迎候", "微笑 | 问候", "")])
    cell = t.cell(1, 2)
    cell.text = "第一行"
    cell.add_paragraph("第二行")
    md = body(d)
    assert md == "| 步骤 | 标准 | 提示 |\n| --- | --- | --- |\n| 1. 迎候 | 微笑 \\| 问候 | 第一行<br>第二行 |\n"
    html, _toc, _ = render_markdown(md)
    assert "<th>步骤</th>" in html and "<td>微笑 | 问候</td>" in html and "第一行<br>第二行" in html


def test_merged_cells_stay_a_sanitised_html_table():
    d = docx.Document()
    t = table(d, [("楼层", "房号"), ("8 楼", "801"), ("", "802")])
    t.cell(1, 0).merge(t.cell(2, 0)).text = "8 楼"
    t.cell(2, 1).text = "<script>alert(1)</script>"
    result = convert_docx(data(d))
    assert '<td rowspan="2"><p>8 楼</p></td>' in result.markdown
    assert "<script>" not in result.markdown and "&lt;script&gt;" in result.markdown
    assert "Table 1 has merged cells; it was kept as an HTML table." in result.report
    html, _toc, _ = render_markdown(result.markdown)
    assert 'rowspan="2"' in html and "<script" not in html


def test_script_typed_in_a_paragraph_stays_text():
    d = docx.Document()
    d.add_paragraph('<img src=x onerror="alert(1)"> 与 **星号** 和 hx-get')
    md = body(d)
    assert md == '&lt;img src=x onerror="alert(1)"> 与 \\*\\*星号\\*\\* 和 hx-get\n'
    html, _toc, _ = render_markdown(md)
    assert "<img" not in html and "&lt;img" in html


def hyperlink(paragraph, url: str, text: str):
    rid = paragraph.part.relate_to(url, RT.HYPERLINK, is_external=True)
    paragraph._p.append(parse_xml(f'<w:hyperlink {nsdecls("w", "r")} r:id="{rid}"><w:r><w:t>{text}</w:t></w:r>'
                                  f'</w:hyperlink>'))


def test_links_keep_http_and_lose_script_urls():
    d = docx.Document()
    p = d.add_paragraph("见")
    hyperlink(p, "https://example.com/sop", "集团官网")
    hyperlink(d.add_paragraph(), "javascript:alert(1)", "点我")
    hyperlink(d.add_paragraph(), "file:///etc/passwd", "本地文件")
    assert body(d) == "见[集团官网](https://example.com/sop)\n\n点我\n\n本地文件\n"


def test_images_become_attachments_once_each():
    d = docx.Document()
    d.add_paragraph("图一：")
    d.add_picture(io.BytesIO(GREEN), width=Cm(1))
    d.add_picture(io.BytesIO(BLUE), width=Cm(1))
    d.add_picture(io.BytesIO(GREEN), width=Cm(1))  # the same picture again: one attachment
    result = convert_docx(data(d))
    assert result.attachments == {"image1.png": GREEN, "image2.png": BLUE}
    assert result.markdown == "图一：\n\n![](image1.png)\n\n![](image2.png)\n\n![](image1.png)\n"
    assert result.report[0].endswith("images 2.")


def test_contents_page_numbers_headers_footers_and_title_are_left_out():
    d = docx.Document()
    header_footer(d, "云栖酒店集团 受控文件", "第 1 页")
    d.add_paragraph("《客房清洁规程》", style="Title")
    d.add_paragraph("文件编号：HK-CL-002　版本：2.0")
    bold(d, "目 录")
    d.add_paragraph("一、目的 ........ (3)")
    d.add_paragraph("二、流程 …… 4")
    d.add_paragraph("（一）准备\t5", style=toc_style(d, 2))
    bold(d, "一、目的")
    d.add_paragraph("保持客房清洁 ...... 每天两次")  # not a contents line: no page number at its end
    result = convert_docx(data(d))
    assert result.markdown == "## 目的\n\n保持客房清洁 ...... 每天两次\n"
    assert result.title == "客房清洁规程" and result.code == "HK-CL-002"
    report = "\n".join(result.report)
    assert "table of contents with its page numbers (lines: 4)" in report
    assert "page headers and footers (“云栖酒店集团 受控文件”; “第 1 页”)" in report
    assert "文件编号：HK-CL-002" in report


def test_a_centred_first_line_is_the_title_and_the_title_property_is_the_fallback():
    d = docx.Document()
    d.core_properties.title = "模板标题"
    d.add_paragraph("《夜审操作规程》").alignment = WD_ALIGN_PARAGRAPH.CENTER
    bold(d, "一、目的")
    result = convert_docx(data(d))
    assert (result.title, result.markdown) == ("夜审操作规程", "## 目的\n")
    d = docx.Document()
    d.core_properties.title = "模板标题"
    d.add_paragraph("一段开场白，不居中。")
    assert convert_docx(data(d)).title == "模板标题"


def test_the_demo_manual_imports():
    result = convert_docx(DEMO.read_bytes())
    md = result.markdown
    headings = [line for line in md.split("\n") if line.startswith("#")]
    assert headings == ["## 目的", "## 适用范围", "## 职责", "## 操作流程", "### 到达前准备", "#### 核对团队预订",
                        "#### 预分房", "### 团队抵店接待", "### 入住后跟进", "## 分房与钥匙交接", "## 相关记录"]
    assert "| 步骤 | 标准 | 提示 |\n| --- | --- | --- |\n| 1. 迎候 |" in md
    assert '<td rowspan="2"><p>8 楼</p></td>' in md
    assert "1. 入住后 1 小时内电话回访领队。\n2. 在交接本记录团队的特殊要求。" in md
    assert "![](image1.png)" in md and set(result.attachments) == {"image1.png"}
    assert result.attachments["image1.png"].startswith(b"\x89PNG")
    assert result.title == "团队入住接待规程" and result.code == "FO-GRP-001"
    assert "受控文件" not in md and "(1)" not in md and "目录" not in md


def test_the_demo_manual_is_what_its_script_writes(tmp_path):
    from demo.make_word_manual import build

    assert build(tmp_path / "m.docx").read_bytes() == DEMO.read_bytes()


# --- .md and .txt ---------------------------------------------------------------------------------------

def test_markdown_keeps_its_body_and_gives_up_its_front_matter():
    text = "---\nid: FO-XX-001\ntitle: 旧标题\n---\n## 目的\n\n正文 *强调*。\n"
    result = convert_text(text.encode(), ".md")
    assert result.markdown == "## 目的\n\n正文 *强调*。\n"
    assert (result.title, result.code) == ("旧标题", "FO-XX-001")
    plain = convert_text("# 标题\n\n正文\n".encode(), ".md")
    assert (plain.markdown, plain.title) == ("正文\n", "标题")


def test_text_becomes_paragraphs_with_the_outline_rules():
    text = "团队入住规程\r\n\r\n一、目的\r\n规范接待。\r\n二、流程\r\n1、迎候；\r\n2、登记。\r\n"
    result = convert_text(text.encode("gb18030"), ".txt")
    assert result.title == "团队入住规程"
    assert result.markdown == "## 目的\n\n规范接待。\n\n## 流程\n\n1. 迎候；\n2. 登记。\n"
    assert "GB18030" in " ".join(result.report)


# --- bad input ------------------------------------------------------------------------------------------

def zip_of(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in parts.items():
            z.writestr(name, blob)
    return out.getvalue()


def cfb(*streams: str) -> bytes:
    """The start of an OLE compound file (what Word writes for .doc and for password-protected .docx): the
    header sector, then a directory sector whose 128-byte entries carry UTF-16 stream names."""
    header = OLE_MAGIC + bytes(16) + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + bytes(6)
    header = header.ljust(512, b"\x00")
    entries = b""
    for name in ("Root Entry", *streams):
        raw = name.encode("utf-16-le") + b"\x00\x00"
        entries += raw.ljust(64, b"\x00") + struct.pack("<H", len(raw)) + bytes(62)
    return header + entries.ljust(512, b"\x00")


def bomb() -> bytes:
    return zip_of({"word/document.xml": b"<w:document>" + b" " * (150 * 1024 * 1024) + b"</w:document>"})


def ratio_bomb() -> bytes:  # 20 MB (under every size limit) packed 1000 : 1
    return zip_of({"word/document.xml": b"<w:document/>", "word/media/image1.png": bytes(20 * 1024 * 1024)})


def small_docx() -> bytes:
    d = docx.Document()
    d.add_paragraph("正文。")
    return data(d)


BAD = {
    "renamed binary": (lambda: GREEN, "not a Word document"),
    "renamed spreadsheet": (lambda: zip_of({"xl/workbook.xml": b"<workbook/>"}), "not a Word document"),
    "truncated": (lambda: small_docx()[:3000], "damaged"),
    "zip bomb (size)": (bomb, "unpacks to far more"),
    "zip bomb (ratio)": (ratio_bomb, "unpacks to far more"),
    "entity expansion": (lambda: zip_of({"word/document.xml": b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">'
                                                              b']><d>&a;</d>'}), "damaged"),
    "password-protected": (lambda: cfb("EncryptionInfo", "EncryptedPackage"), "password-protected"),
    "Word 97-2003": (lambda: cfb("WordDocument", "1Table"), "Word 97-2003"),
    "empty": (lambda: b"", "empty"),
    "no text": (lambda: data(docx.Document()), "no text"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_docx_is_refused_with_a_clear_message(case):
    make, words = BAD[case]
    with pytest.raises(WordImportError) as e:
        convert_docx(make())
    assert words in str(e.value) and e.value.status == 422


def test_oversized_file_is_refused_before_it_is_read():
    with pytest.raises(WordImportError, match=r"The file is 0.1 MB; the limit is 0 MB") as e:
        convert_docx(b"PK\x03\x04" + bytes(100_000), max_bytes=50_000)
    assert e.value.status == 413
    with pytest.raises(WordImportError, match=r"the limit is 20 MB"):
        convert_docx(b"PK\x03\x04" + bytes(21 * 1024 * 1024))


def test_a_document_too_long_to_convert_is_refused():
    d = docx.Document()
    for n in range(200):
        d.add_paragraph(f"第 {n} 段正文。" * 5)
    with pytest.raises(WordImportError, match=r"too long to import at once \(0.\d MB .* the limit is 0 MB\)"):
        convert_docx(data(d), max_xml=20_000)
    assert convert_docx(data(d)).markdown.startswith("第 0 段正文。")


def test_other_file_types_and_binary_text_are_refused():
    with pytest.raises(WordImportError, match="Only Word"):
        convert_file("规程.pdf", b"%PDF-1.4")
    with pytest.raises(WordImportError, match="not a text file"):
        convert_file("规程.txt", GREEN)


# --- the draft it starts, and the command -----------------------------------------------------------------

def counts() -> tuple[int, int, int]:
    db.session.commit()
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(m))
                 for m in (Draft, DraftAttachment, SopRevision))


def test_import_upload_starts_a_draft_that_passes_the_checks(app):
    user = db.session.scalar(sa.select(User).where(User.username == "fo.manager"))
    dept = department_by_name("前厅部")
    draft = import_upload(user, "团队入住接待规程.docx", DEMO.read_bytes(), dept)
    db.session.commit()
    assert (draft.code, draft.kind, draft.source, draft.state) == ("FO-GRP-001", "new", "import", "draft")
    assert [a.name for a in draft.attachments] == ["FO-GRP-001-image1.png"]
    assert "![](FO-GRP-001-image1.png)" in draft.text
    assert draft.text.startswith("---\nid: FO-GRP-001\ntitle: 团队入住接待规程\ndepartment: 前厅部\nversion: '1.0'\n")
    assert "attachments: [FO-GRP-001-image1.png]" in draft.text and "change: material" in draft.text
    report = json.loads(draft.import_report)
    assert report[-1] == "团队入住接待规程.docx → FO-GRP-001" and any("页眉" in line for line in report)
    assert check_draft(draft) == []
    # The same document again: its 文件编号 is taken, so the department's next number is used.
    again = import_upload(user, "copy.docx", DEMO.read_bytes(), dept)
    assert again.code == "FO-001"
    # Another department's 文件编号 is not taken over either.
    it = import_upload(db.session.scalar(sa.select(User).where(User.username == "admin")), "it.docx",
                       DEMO.read_bytes(), department_by_name("IT支持部"))
    assert it.code == "IT-001"
    untitled = import_upload(user, "无题.txt", "1、先做这个。\n2、再做那个。\n".encode(), dept)
    assert "title: FO-002\n" in untitled.text and "1. 先做这个。\n2. 再做那个。\n" in untitled.text
    assert "文件中没有找到标题" in json.loads(untitled.import_report)[-1]


def test_bad_upload_or_wrong_author_creates_nothing(app):
    before = counts()
    staff = db.session.scalar(sa.select(User).where(User.username == "fo.staff"))
    manager = db.session.scalar(sa.select(User).where(User.username == "fo.manager"))
    dept = department_by_name("前厅部")
    with pytest.raises(AuthoringError) as e:
        import_upload(staff, "m.docx", DEMO.read_bytes(), dept)
    assert e.value.status == 403
    for make, _words in BAD.values():
        with pytest.raises(WordImportError):
            import_upload(manager, "m.docx", make(), dept)
    with pytest.raises(AuthoringError, match="exists already"):
        import_upload(manager, "m.docx", DEMO.read_bytes(), dept, code="FO-CI-001")
    db.session.rollback()
    assert counts() == before


def test_build_sop_text_front_matter():
    class Dept:
        name = "前厅部"

    from app.authoring.wordimport import ImportResult

    text = build_sop_text(ImportResult(markdown="## 目的\n"), Dept, "FO-X-001", title="团队规程")
    assert text.split("---\n")[1].split("\n")[:4] == ["id: FO-X-001", "title: 团队规程", "department: 前厅部",
                                                      "version: '1.0'"]
    assert "owner: ''" in text
    assert text.endswith("---\n## 目的\n") and "change: material" in text and "effective: 20" in text


def test_cli_print_writes_the_file_and_saves_nothing(app, runner):
    before = counts()
    r = runner.invoke(args=["sops", "import", str(DEMO), "--department", "前厅部", "--print"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("---\nid: FO-GRP-001\ntitle: 团队入住接待规程\ndepartment: 前厅部\n")
    assert "\n---\n## 目的\n" in r.stdout and "![](FO-GRP-001-image1.png)" in r.stdout
    assert "# 已转换" in r.stderr  # the report goes to stderr, in Chinese (the CLI's locale)
    assert counts() == before


def test_cli_import_creates_a_draft_and_prints_its_report(app, runner):
    before = counts()
    r = runner.invoke(args=["sops", "import", str(DEMO), "--department", "FO", "--id", "fo-grp-009",
                            "--author", "fo.manager"])
    assert r.exit_code == 0, r.output
    draft = db.session.scalar(sa.select(Draft).where(Draft.code == "FO-GRP-009"))
    assert r.output.startswith(f"draft {draft.id}: FO-GRP-009 (前厅部), author fo.manager\n")
    assert "页眉" in r.output and draft.author.username == "fo.manager"
    assert counts() == (before[0] + 1, before[1] + 1, before[2])


def test_cli_refuses_a_bad_file_and_creates_nothing(app, runner, tmp_path):
    before = counts()
    fake = tmp_path / "规程.docx"
    fake.write_bytes(GREEN)
    r = runner.invoke(args=["sops", "import", str(fake), "--department", "前厅部"])
    assert r.exit_code == 1 and "不是 Word 文档" in r.output
    r = runner.invoke(args=["sops", "import", str(DEMO), "--department", "无此部门"])
    assert r.exit_code == 1 and "unknown department" in r.output
    assert counts() == before

