"""Write the demo Word manual demo/团队入住接待规程.docx (our own text, an invented hotel group).

    /work/main/.venv/bin/python demo/make_word_manual.py [OUT.docx]

It holds what Chinese hotel manuals hold and what the importer must handle: a typed outline (一、 in a bold
Normal paragraph), Word's automatic numbering (numbering.xml, chineseCounting and decimal), a heading style,
a 步骤 | 标准 | 提示 table, a table with merged cells, an image, a table of contents with page numbers, and a
page header and footer. The builders below are reused by tests/test_wordimport.py and bench/authoring_import.py.
"""
import struct
import sys
import zipfile
import zlib
from io import BytesIO
from pathlib import Path

import docx
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Cm

OUT = Path(__file__).resolve().parent / "团队入住接待规程.docx"


def png(width: int, height: int, boxes=(), background=(255, 255, 255)) -> bytes:
    """A small RGB PNG: a background and filled boxes [(x0, y0, x1, y1, (r, g, b)), ...]. No imaging library."""
    rows = []
    for y in range(height):
        row = bytearray()
        for x in range(width):
            colour = background
            for x0, y0, x1, y1, c in boxes:
                if x0 <= x < x1 and y0 <= y < y1:
                    colour = c
            row += bytes(colour)
        rows.append(b"\x00" + bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
            + chunk(b"IEND", b""))


def add_numbering(document, levels, start=None) -> int:
    """Add an automatic (Word) numbering definition; return its numId. `levels` is a list of
    (numFmt, lvlText) per level, e.g. [("chineseCounting", "%1、"), ("decimal", "%2、")]."""
    numbering = document.part.numbering_part.element
    abstract_ids = [int(v) for v in numbering.xpath("./w:abstractNum/@w:abstractNumId")]
    num_ids = [int(v) for v in numbering.xpath("./w:num/@w:numId")]
    abstract_id, num_id = max(abstract_ids, default=0) + 1, max(num_ids, default=0) + 1
    lvls = "".join(
        f'<w:lvl w:ilvl="{i}"><w:start w:val="{start if start and i == 0 else 1}"/><w:numFmt w:val="{fmt}"/>'
        f'<w:lvlText w:val="{text}"/><w:suff w:val="nothing"/><w:lvlJc w:val="left"/></w:lvl>'
        for i, (fmt, text) in enumerate(levels))
    abstract = parse_xml(f'<w:abstractNum {nsdecls("w")} w:abstractNumId="{abstract_id}">'
                         f'<w:multiLevelType w:val="multilevel"/>{lvls}</w:abstractNum>')
    first_num = numbering.find(qn("w:num"))
    if first_num is not None:  # the schema wants every abstractNum before the first num
        first_num.addprevious(abstract)
    else:
        numbering.append(abstract)
    numbering.append(parse_xml(f'<w:num {nsdecls("w")} w:numId="{num_id}">'
                               f'<w:abstractNumId w:val="{abstract_id}"/></w:num>'))
    return num_id


def number(paragraph, num_id: int, level: int = 0):
    """Give a paragraph Word's automatic numbering (the label is not in its text)."""
    p_pr = paragraph._p.get_or_add_pPr()
    p_pr.append(parse_xml(f'<w:numPr {nsdecls("w")}><w:ilvl w:val="{level}"/><w:numId w:val="{num_id}"/></w:numPr>'))
    return paragraph


def bold(document, text: str, style=None):
    """A bold Normal paragraph: how many manuals type their outline headings."""
    paragraph = document.add_paragraph(style=style)
    paragraph.add_run(text).bold = True
    return paragraph


def table(document, rows, style="Table Grid"):
    t = document.add_table(rows=len(rows), cols=len(rows[0]))
    t.style = document.styles[style]
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            t.cell(r, c).text = value
    return t


def toc_style(document, level: int):
    name = f"toc {level}"
    try:
        return document.styles[name]
    except KeyError:
        style = document.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = document.styles["Normal"]
        return style


def header_footer(document, header: str, footer: str):
    section = document.sections[0]
    section.header.paragraphs[0].text = header
    section.footer.paragraphs[0].text = footer


STEPS = [
    ("步骤", "标准", "提示"),
    ("1. 迎候", "团队大巴到达前 10 分钟，大堂副理与礼宾员在门口迎候", "雨天提前在门口备好伞架与防滑垫"),
    ("2. 核对名单", "与领队逐一核对入住名单与房间数，差异当场记录", "名单有变动时请领队签字确认"),
    ("3. 证件登记", "所有入住人逐一刷证并完成公安系统上传", "证件不全的客人先请到休息区等候，不得代登记"),
    ("4. 发放房卡", "按分房表装好房卡袋，交领队统一分发", "房卡袋上只写房号，不写客人姓名"),
    ("5. 说明事项", "向领队说明早餐时间、叫醒时间与退房时间", "用团队确认单书面确认，领队签字"),
]


def build(out: Path = OUT) -> Path:
    document = docx.Document()
    header_footer(document, "云栖酒店集团 前厅部 受控文件", "第 1 页 共 3 页")
    document.core_properties.title = "团队入住接待规程"
    document.core_properties.author = "云栖酒店集团前厅部"

    document.add_paragraph("团队入住接待规程", style="Title")
    document.add_paragraph("文件编号：FO-GRP-001　　版本：1.0　　编制：前厅部")

    contents = bold(document, "目录")
    contents.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for level, line in [(1, "一、目的 ........................ (1)"), (1, "二、适用范围 .................... (1)"),
                        (1, "三、职责 ........................ (1)"), (1, "四、操作流程 …………………… 2"),
                        (2, "（一）到达前准备 ……………… 2"), (2, "（二）团队抵店接待 ……………… 2"),
                        (1, "五、分房与钥匙交接 …………… 3")]:
        document.add_paragraph(line, style=toc_style(document, level))

    # Part one: the outline is typed as text in bold Normal paragraphs.
    bold(document, "一、目的")
    document.add_paragraph("规范团队客人（10 间房及以上）的入住接待，使整团客人在抵店后 30 分钟内全部入住，"
                           "且实名登记无遗漏。")
    bold(document, "二、适用范围")
    document.add_paragraph("云栖酒店集团各门店前厅部，包括旅行社团队、会议团队和公司包房。")
    bold(document, "三、职责")
    document.add_paragraph("1、前厅经理：审批团队分房方案，协调房务部按时出房。")
    document.add_paragraph("2、大堂副理：现场指挥团队接待，处理名单差异与投诉。")
    document.add_paragraph("3、前台接待：制作房卡袋，完成证件登记与系统上传。")

    # Part two: a heading style with typed text, then Word's automatic numbering below it.
    document.add_paragraph("四、操作流程", style="Heading 1")
    sub = add_numbering(document, [("chineseCounting", "（%1）"), ("decimal", "%2、")])
    number(bold(document, "到达前准备"), sub, 0)
    number(document.add_paragraph("核对团队预订"), sub, 1)
    document.add_paragraph("抵店前一天 16:00 前向旅行社或会务组索取最终名单，核对房型、房数和用餐安排。")
    number(document.add_paragraph("预分房"), sub, 1)
    document.add_paragraph("按同楼层、相邻房间的原则预分房，预分结果打印两份：一份给领队，一份留前台。")
    number(bold(document, "团队抵店接待"), sub, 0)
    document.add_paragraph("按下表逐步完成：")
    table(document, STEPS)
    number(bold(document, "入住后跟进"), sub, 0)
    number(document.add_paragraph("入住后 1 小时内电话回访领队。"), sub, 1)
    number(document.add_paragraph("在交接本记录团队的特殊要求。"), sub, 1)
    number(document.add_paragraph("次日早餐前确认叫醒名单已执行。"), sub, 1)

    # Part three: Heading 1 with Word's automatic chineseCounting numbering that continues at 五.
    outline = add_numbering(document, [("chineseCounting", "%1、")], start=5)
    number(document.add_paragraph("分房与钥匙交接", style="Heading 1"), outline, 0)
    document.add_paragraph("分房表格式如下（同一楼层合并填写）：")
    rooms = table(document, [("楼层", "房号", "领取人", "签字"), ("8 楼", "801–806", "领队", ""),
                             ("", "807–810", "副领队", ""), ("9 楼", "901–905", "会务组", "")])
    rooms.cell(1, 0).merge(rooms.cell(2, 0)).text = "8 楼"
    document.add_paragraph("团队大堂动线示意：")
    image = png(96, 48, [(4, 4, 40, 44, (46, 125, 50)), (56, 4, 92, 44, (21, 101, 192)), (40, 22, 56, 26, (0, 0, 0))])
    document.add_picture(BytesIO(image), width=Cm(6))
    number(bold(document, "相关记录"), outline, 0)
    document.add_paragraph("团队确认单", style="List Bullet")
    document.add_paragraph("团队分房表", style="List Bullet")

    save(document, out)
    return out


def save(document, out: Path) -> None:
    """Save with fixed zip timestamps, so that the same script writes the same bytes."""
    buffer = BytesIO()
    document.save(buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(zipfile.ZipInfo(item.filename, (2026, 1, 1, 0, 0, 0)), source.read(item.filename),
                            zipfile.ZIP_DEFLATED)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
