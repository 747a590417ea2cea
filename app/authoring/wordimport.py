"""Word (.docx), Markdown and text files → SOP Markdown, attachments and an import report. Pure: bytes in,
an ImportResult out; no database, no app (messages are translated when an app context has a locale).

A .docx goes through five steps (docs/decisions.md says why these):
1. the bytes are checked before any parser sees them: size, zip container, zip bomb (total unpacked size and
   compression ratio), encrypted or legacy OLE files, DTDs in the XML parts;
2. python-docx: Word's automatic numbering (numbering.xml) is computed into label text ("一、", "（二）", "3、"),
   because every converter loses it; table-of-contents lines and document-control lines are dropped; heading
   styles (Heading 1, 标题 1, outline levels) are normalised; the title is taken out;
3. mammoth: the document → HTML, images handed to us as attachments (headers and footers are never read);
4. nh3: the HTML is sanitised (mammoth does not);
5. our block walker: outline prefixes → heading levels (一、 ##, （一） ###, 1、 #### or a list), tables → pipe
   tables (merged cells: a sanitised HTML table), inline formatting → Markdown.
"""
import hashlib
import re
import zipfile
from dataclasses import dataclass, field
from io import BytesIO

import docx
import lxml.html
import mammoth
import nh3
import yaml
from docx.text.paragraph import Paragraph
from flask_babel import gettext

from app.errors import UserError

MAX_BYTES = 20 * 1024 * 1024  # an uploaded file
MAX_UNPACKED = 100 * 1024 * 1024  # all parts of a .docx together, unpacked
MAX_XML = 8 * 1024 * 1024  # the XML parts, unpacked: mammoth's minidom takes ~50 MB of memory and ~2 s per MB
MAX_RATIO = 200  # unpacked : packed, for any part above RATIO_FLOOR bytes (real parts stay well below 100)
RATIO_FLOOR = 1024 * 1024
MAX_PARTS = 5000
IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/jpg": "jpg"}
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"


class WordImportError(UserError):
    """A file that cannot be imported; nothing has been created when this is raised."""
    status = 422


@dataclass
class ImportResult:
    markdown: str  # the body, no front matter
    attachments: dict[str, bytes] = field(default_factory=dict)  # image1.png → bytes, referenced by the body
    report: list[str] = field(default_factory=list)  # what was converted and what was left out
    title: str | None = None  # a guess: the Title paragraph, the document's title property, or its first line
    code: str | None = None  # a guess: "文件编号：FO-GRP-001"


# ---------------------------------------------------------------------------------------------- dispatch


def convert_file(filename: str, data: bytes, max_bytes: int = MAX_BYTES) -> ImportResult:
    """Pick the converter by the file's name: .docx (and .doc, to explain), .md/.markdown, .txt."""
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix in (".docx", ".doc", ".docm", ".dotx"):
        return convert_docx(data, max_bytes=max_bytes)
    if suffix in (".md", ".markdown", ".txt"):
        return convert_text(data, suffix, max_bytes=max_bytes)
    raise WordImportError("Only Word (.docx), Markdown (.md) and text (.txt) files can be imported.")


def check_size(data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise WordImportError("The file is %(size)s MB; the limit is %(limit)s MB.", 413,
                              size=f"{len(data) / 1048576:.1f}", limit=f"{max_bytes / 1048576:.0f}")
    if not data:
        raise WordImportError("The file is empty.")


# ---------------------------------------------------------------------------------------------- step 1: the bytes


def open_package(data: bytes, max_unpacked: int, max_xml: int = MAX_XML) -> zipfile.ZipFile:
    """The .docx's zip, after every check that can be made without trusting it."""
    if data.startswith(OLE_MAGIC):
        # An OLE container is either an encrypted OOXML file (stream "EncryptedPackage") or a Word 97-2003 file.
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise WordImportError("The document is password-protected. Remove the password in Word "
                                  "(File → Info → Protect Document) and upload it again.")
        raise WordImportError("This is an old Word 97-2003 (.doc) file. Open it in Word, save it as .docx "
                              "and upload that.")
    if not data.startswith(ZIP_MAGIC):
        raise WordImportError("The file is not a Word document (.docx), whatever its name says.")
    try:
        package = zipfile.ZipFile(BytesIO(data))
        parts = package.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise WordImportError("The file is damaged: it is not a readable .docx.") from None
    unpacked = sum(p.file_size for p in parts)
    if len(parts) > MAX_PARTS or unpacked > max_unpacked or any(
            p.file_size > RATIO_FLOOR and p.file_size > MAX_RATIO * max(p.compress_size, 1) for p in parts):
        raise WordImportError("The file unpacks to far more than a Word document does (%(size)s MB); "
                              "it was not opened.", size=f"{unpacked / 1048576:.0f}")
    xml = sum(p.file_size for p in parts if p.filename.endswith((".xml", ".rels")))
    if xml > max_xml:
        raise WordImportError("The document is too long to import at once (%(size)s MB of text and layout; the "
                              "limit is %(limit)s MB). Split it into several files.",
                              size=f"{xml / 1048576:.1f}", limit=f"{max_xml / 1048576:.0f}")
    if any(p.flag_bits & 0x1 for p in parts):
        raise WordImportError("The document is password-protected. Remove the password in Word "
                              "(File → Info → Protect Document) and upload it again.")
    if "word/document.xml" not in package.namelist():
        raise WordImportError("The file is not a Word document (.docx), whatever its name says.")
    try:  # the sizes in the zip's directory are read back, not trusted; Word never writes a DTD
        for part in parts:
            if part.filename.endswith((".xml", ".rels")):
                with package.open(part) as f:
                    head = f.read(part.file_size + 1)
                if len(head) > part.file_size or b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                    raise WordImportError("The file is damaged: it is not a readable .docx.")
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, zipfile.LargeZipFile):
        raise WordImportError("The file is damaged: it is not a readable .docx.") from None
    return package


def headers_and_footers(package: zipfile.ZipFile) -> list[str]:
    """The text of the page headers and footers (they are left out; the report names them)."""
    texts = []
    for name in sorted(package.namelist(), key=lambda n: ("footer" in n, n)):
        if re.fullmatch(r"word/(header|footer)\d*\.xml", name):
            xml = package.read(name).decode("utf-8", "replace")
            text = "".join(re.findall(r"<w:t(?:\s[^>]*)?>([^<]*)</w:t>", xml)).strip()
            if text and text not in texts:
                texts.append(text)
    return texts


# ---------------------------------------------------------------------------------------------- step 2: python-docx

CN_DIGITS = "零一二三四五六七八九"
LEGAL_DIGITS = "零壹贰叁肆伍陆柒捌玖"
STEMS = "甲乙丙丁戊己庚辛壬癸"
CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"


def chinese(n: int, digits: str = CN_DIGITS, ten: str = "十", hundred: str = "百") -> str:
    if n <= 0:
        return str(n)
    if n < 10:
        return digits[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return (digits[tens] if tens > 1 else "") + ten + (digits[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        tail = "" if rest == 0 else (digits[0] + digits[rest] if rest < 10 else
                                     (digits[1] if rest < 20 else "") + chinese(rest, digits, ten, hundred))
        return digits[hundreds] + hundred + tail
    return str(n)


def roman(n: int) -> str:
    out = ""
    for value, letters in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                           (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out, n = out + letters, n - value
    return out


def letters(n: int) -> str:
    return chr(ord("A") + (n - 1) % 26) * ((n - 1) // 26 + 1)


def format_number(n: int, fmt: str) -> str:
    """One counter in one of Word's numFmt formats (the common ones; anything else as decimal)."""
    if fmt in ("chineseCounting", "chineseCountingThousand", "japaneseCounting", "taiwaneseCounting",
               "ideographDigital"):
        return chinese(n)
    if fmt == "chineseLegalSimplified":
        return chinese(n, LEGAL_DIGITS, "拾", "佰")
    if fmt in ("ideographTraditional",):
        return STEMS[(n - 1) % 10]
    if fmt in ("decimalEnclosedCircle", "decimalEnclosedCircleChinese") and 1 <= n <= 20:
        return CIRCLED[n - 1]
    if fmt == "decimalFullWidth":
        return str(n).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    if fmt == "decimalZero":
        return f"{n:02d}"
    if fmt == "upperLetter":
        return letters(n)
    if fmt == "lowerLetter":
        return letters(n).lower()
    if fmt == "upperRoman":
        return roman(n)
    if fmt == "lowerRoman":
        return roman(n).lower()
    return str(n)


@dataclass
class Level:
    fmt: str
    text: str
    start: int
    legal: bool  # w:isLgl: every counter shown as decimal


class Numbering:
    """Word's automatic numbering, read from numbering.xml through python-docx, counted in document order."""

    def __init__(self, document):
        self.abstract: dict[str, dict[int, Level]] = {}
        self.nums: dict[str, tuple[str, dict[int, int]]] = {}
        self.counters: dict[str, dict[int, int]] = {}
        self.used = 0
        try:
            root = document.part.numbering_part.element
        except (KeyError, NotImplementedError):  # python-docx cannot create one: the document has no numbering
            return
        for abstract in root.iter(W + "abstractNum"):
            levels = {}
            for lvl in abstract.iter(W + "lvl"):
                levels[int(lvl.get(W + "ilvl", "0"))] = Level(
                    fmt=child_val(lvl, "numFmt") or "decimal", text=child_val(lvl, "lvlText") or "",
                    start=int(child_val(lvl, "start") or 1), legal=lvl.find(W + "isLgl") is not None)
            self.abstract[abstract.get(W + "abstractNumId")] = levels
        for num in root.iter(W + "num"):
            starts = {int(o.get(W + "ilvl", "0")): int(child_val(o, "startOverride"))
                      for o in num.iter(W + "lvlOverride") if child_val(o, "startOverride")}
            self.nums[num.get(W + "numId")] = (child_val(num, "abstractNumId"), starts)

    def label(self, num_id: str, ilvl: int) -> str | None:
        """The label Word would show for the next paragraph of this list; None for bullets and unknown lists."""
        if num_id not in self.nums:
            return None
        abstract_id, starts = self.nums[num_id]
        levels = self.abstract.get(abstract_id, {})
        level = levels.get(ilvl)
        if level is None or level.fmt == "bullet":
            return None
        counts = self.counters.setdefault(num_id if starts else abstract_id, {})
        counts[ilvl] = counts[ilvl] + 1 if ilvl in counts else starts.get(ilvl, level.start)
        for deeper in [k for k in counts if k > ilvl]:
            del counts[deeper]
        if level.fmt == "none":
            return ""

        def counter(m):
            at = int(m.group(1)) - 1
            lvl = levels.get(at, level)
            value = counts.get(at, starts.get(at, lvl.start))
            return format_number(value, "decimal" if level.legal else lvl.fmt)

        self.used += 1
        return re.sub(r"%([1-9])", counter, level.text)


def child_val(element, name: str) -> str | None:
    child = element.find(W + name)
    return None if child is None else child.get(W + "val")


@dataclass
class Style:
    name: str
    based_on: str | None
    num: tuple[str | None, int | None]
    outline: int | None


def read_styles(document) -> dict[str, Style]:
    styles = {}
    for el in document.styles.element.iter(W + "style"):
        if el.get(W + "type") != "paragraph":
            continue
        p_pr = el.find(W + "pPr")
        num_pr = None if p_pr is None else p_pr.find(W + "numPr")
        outline = None if p_pr is None else child_val(p_pr, "outlineLvl")
        styles[el.get(W + "styleId")] = Style(
            name=(child_val(el, "name") or "").strip().lower(), based_on=child_val(el, "basedOn"),
            num=(None, None) if num_pr is None else (
                child_val(num_pr, "numId"), int(child_val(num_pr, "ilvl") or 0)),
            outline=int(outline) if outline and outline.isdigit() else None)
    return styles


def style_chain(styles: dict[str, Style], style_id: str | None):
    seen = set()
    while style_id and style_id in styles and style_id not in seen:
        seen.add(style_id)
        yield styles[style_id]
        style_id = styles[style_id].based_on


HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*([1-9])$")
TOC_LINE = re.compile(r"^\s*\S.{0,80}?\s*(?:[.．·•…‥_\-—]{2,}|\t)\s*[(（]?\s*\d{1,4}\s*[)）]?\s*$")
CONTENTS = re.compile(r"^\s*目\s*录\s*$|^\s*contents\s*$", re.I)
CONTROL_LINE = re.compile(r"^\s*(?:文件编号|文件编码|编\s*号|版\s*本|版\s*次|编\s*制|审\s*核|批\s*准|生效日期|发布日期|"
                          r"修订日期|实施日期)\s*[:：]")
CODE_IN_LINE = re.compile(r"(?:文件编号|文件编码|编\s*号)\s*[:：]\s*([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+)")


def paragraph_text(p) -> str:
    return Paragraph(p, None).text


class Prepared:
    """What step 2 found, for the report."""

    def __init__(self):
        self.title: str | None = None
        self.code: str | None = None
        self.toc_lines = 0
        self.control_lines: list[str] = []
        self.labels: list[str] = []


def prepare(document) -> Prepared:
    """Rewrite the document in place for mammoth: numbering labels into the text, headings into ImportHeadingN
    styles, the title, table-of-contents lines and document-control lines out."""
    found = Prepared()
    styles = read_styles(document)
    numbering = Numbering(document)
    body = document.element.body
    for sdt in list(body.iterchildren(W + "sdt")):
        gallery = sdt.find(f".//{W}docPartGallery")
        if gallery is not None and "table of contents" in (gallery.get(W + "val") or "").lower():
            found.toc_lines += sum(1 for p in sdt.iter(W + "p") if paragraph_text(p).strip())
            body.remove(sdt)

    def top_level(p) -> bool:  # in the body, not in a table or a text box
        parent = p.getparent()
        return parent is body or (parent.tag == W + "sdtContent" and parent.getparent().getparent() is body)

    heading_ones = sum(1 for p in body.iter(W + "p") if heading_level(p, styles) == 1)
    seen_heading = seen_text = False
    for p in list(body.iter(W + "p")):
        p_pr = p.find(W + "pPr")
        style_id = child_val(p_pr, "pStyle") if p_pr is not None else None
        chain = list(style_chain(styles, style_id))
        text = paragraph_text(p).strip()
        if text and top_level(p) and not seen_heading and is_toc(text, chain):
            found.toc_lines += 1
            p.getparent().remove(p)
            continue
        label = numbering_label(p, p_pr, chain, numbering)
        if label is not None:
            insert_label(p, label)
            found.labels.append(label)
            text = (label + text).strip()
        level = heading_level(p, styles)
        if top_level(p) and text and not seen_heading:
            first_line = not seen_text and not any(rx.match(text) for _lvl, rx in OUTLINE)
            if level == 0 or (first_line and level == 1 and heading_ones == 1) or (
                    first_line and level is None and len(text) <= 40 and centred(p_pr)):
                if found.title is None:
                    found.title = text.strip("《》 ")
                    p.getparent().remove(p)
                    continue
                level = 1
            if CONTROL_LINE.match(text):
                found.control_lines.append(text)
                found.code = found.code or next(iter(CODE_IN_LINE.findall(text)), None)
                p.getparent().remove(p)
                continue
        if text:
            seen_text = True
            if level or any(rx.match(text) for _lvl, rx in OUTLINE[:2]):
                seen_heading = True
        if level:
            p_pr = p.get_or_add_pPr()
            style = p_pr.find(W + "pStyle")
            if style is None:
                style = p_pr.makeelement(W + "pStyle", {})
                p_pr.insert(0, style)
            style.set(W + "val", f"ImportHeading{min(level, 6)}")
    slim_styles(document)
    return found


def slim_styles(document) -> None:
    """mammoth parses styles.xml with minidom, and Word's (often 50-350 KB of formatting and latent styles) cost it
    most of its time; it reads only each style's type, id, name and a numbering style's numPr."""
    root = document.styles.element
    for child in list(root):
        if child.tag != W + "style":
            root.remove(child)
            continue
        keep = {W + "name"} | ({W + "pPr"} if child.get(W + "type") == "numbering" else set())
        for part in list(child):
            if part.tag not in keep:
                child.remove(part)


def centred(p_pr) -> bool:
    """A centred paragraph: how a manual's title looks when it has no Title style."""
    return p_pr is not None and child_val(p_pr, "jc") == "center"


def is_toc(text: str, chain: list[Style]) -> bool:
    if any(s.name.startswith("toc") for s in chain):
        return True
    return bool(CONTENTS.match(text) or TOC_LINE.match(text))


def heading_level(p, styles) -> int | None:
    """1-9 for a heading (style Heading N / 标题 N, or an outline level), 0 for the Title style, else None."""
    p_pr = p.find(W + "pPr")
    if p_pr is not None:
        outline = child_val(p_pr, "outlineLvl")
        if outline and outline.isdigit() and int(outline) < 9:
            return int(outline) + 1
    style_id = child_val(p_pr, "pStyle") if p_pr is not None else None
    for style in style_chain(styles, style_id):
        if style.name in ("title", "标题"):
            return 0
        m = HEADING_STYLE.match(style.name)
        if m:
            return int(m.group(1))
        if style.outline is not None and style.outline < 9:
            return style.outline + 1
    return None


def numbering_label(p, p_pr, chain, numbering: Numbering) -> str | None:
    num_id, ilvl = None, None
    num_pr = p_pr.find(W + "numPr") if p_pr is not None else None
    if num_pr is not None:
        num_id, ilvl = child_val(num_pr, "numId"), child_val(num_pr, "ilvl")
    if num_id is None:
        for style in chain:
            if style.num[0] is not None:
                num_id, ilvl = style.num[0], ilvl if ilvl is not None else style.num[1]
                break
    if num_id is None or num_id == "0":
        return None
    label = numbering.label(num_id, int(ilvl or 0))
    if label is not None:  # mammoth must not number it again: an explicit "no numbering" wins over the style's
        if num_pr is not None:
            p_pr.remove(num_pr)
        p_pr = p.get_or_add_pPr()
        none = p_pr.makeelement(W + "numPr", {})
        for tag in ("ilvl", "numId"):
            none.append(p_pr.makeelement(W + tag, {W + "val": "0"}))
        p_pr.insert(1 if p_pr.find(W + "pStyle") is not None else 0, none)
    return label


def insert_label(p, label: str) -> None:
    if not label:
        return
    if not label.endswith(("、", "）", "】", "〕", "．", "：")):
        label += " "
    run = p.makeelement(W + "r", {})
    t = run.makeelement(W + "t", {XML_SPACE: "preserve"})
    t.text = label
    run.append(t)
    p_pr = p.find(W + "pPr")
    p.insert(0 if p_pr is None else p.index(p_pr) + 1, run)


# ---------------------------------------------------------------------------------------------- step 3 and 4

STYLE_MAP = "\n".join(f"p.ImportHeading{n} => h{n}:fresh" for n in range(1, 7))
HTML_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "u", "s", "del", "sup", "sub",
             "a", "ul", "ol", "li", "table", "thead", "tbody", "tr", "td", "th", "img", "br"}
HTML_ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}


def sanitise(html: str) -> str:
    return nh3.clean(html, tags=HTML_TAGS, attributes=HTML_ATTRIBUTES, clean_content_tags={"script", "style"},
                     url_schemes={"http", "https", "mailto"}, link_rel=None)


class Images:
    """mammoth's convert_image: PNG and JPEG become attachments image1.png …, one per distinct image."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.by_hash: dict[str, str] = {}
        self.skipped: list[str] = []

    def __call__(self, image):
        ext = IMAGE_TYPES.get((image.content_type or "").lower())
        if ext is None:
            self.skipped.append(image.content_type or "?")
            return []
        with image.open() as f:
            data = f.read()
        digest = hashlib.sha256(data).hexdigest()
        name = self.by_hash.get(digest)
        if name is None:
            name = self.by_hash[digest] = f"image{len(self.files) + 1}.{ext}"
            self.files[name] = data
        return [mammoth.html.element("img", {"src": name, "alt": image.alt_text or ""})]


# ---------------------------------------------------------------------------------------------- step 5: HTML → Markdown

CN_NUM = "一二三四五六七八九十百零〇两"
OUTLINE = [  # (level, prefix); level 4 is a list item unless it heads a block
    (2, re.compile(rf"^[{CN_NUM}]+\s*[、.．]\s*")),
    (3, re.compile(rf"^[（(]\s*[{CN_NUM}]+\s*[）)]\s*[、.．]?\s*")),
    (4, re.compile(r"^(\d{1,3})\s*(?:、|[.．](?!\d)|\s*[)）](?=\S))\s*")),
]
SUB_ITEM = re.compile(r"^(?:[（(]\s*(\d{1,3})\s*[）)]|([①-⑳]))\s*")
STYLE_NUMBER = re.compile(r"^\d+(?:[.．]\d+)*\s*[、.．]?\s+|^\d+(?:[.．]\d+)+\s*")
HEADING_MAX = 60  # longer "一、…" lines are sentences, not headings
ESCAPE = str.maketrans({"\\": "\\\\", "*": "\\*", "_": "\\_", "`": "\\`", "<": "&lt;"})


@dataclass
class Block:
    kind: str  # para | heading | item | sub | list | table | html
    md: str = ""
    plain: str = ""
    level: int = 0  # heading: 2-6; item: its number
    styled: bool = False  # a heading from a Word heading style


def escape(text: str | None) -> str:
    return (text or "").translate(ESCAPE)


def inline(el, cell: bool = False) -> str:
    """An element's content as inline Markdown."""
    out = [escape(el.text)]
    for child in el:
        tag = child.tag if isinstance(child.tag, str) else ""
        inner = inline(child, cell)
        if tag in ("strong", "b"):
            out.append(wrap(inner, "**"))
        elif tag in ("em", "i"):
            out.append(wrap(inner, "*"))
        elif tag in ("s", "del"):
            out.append(wrap(inner, "~~"))
        elif tag in ("sup", "sub"):
            out.append(f"<{tag}>{inner}</{tag}>" if inner.strip() else "")
        elif tag == "a":
            href = child.get("href") or ""
            out.append(f"[{inner}]({href})" if inner.strip() and href.startswith(("http", "mailto:")) else inner)
        elif tag == "img":
            out.append(f"![{escape(child.get('alt'))}]({child.get('src')})" if child.get("src") else "")
        elif tag == "br":
            out.append("<br>")
        elif tag in ("p", "li", "h1", "h2", "h3", "h4", "h5", "h6") and cell:
            out.append(("<br>" if "".join(out).strip() else "") + inner)
        else:
            out.append(inner)
        out.append(escape(child.tail))
    return "".join(out)


def wrap(text: str, mark: str) -> str:
    stripped = text.strip()
    if not stripped:
        return text
    lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()):]
    return f"{lead}{mark}{stripped}{mark}{trail}"


def plain_of(md: str) -> str:
    return re.sub(r"\*\*|~~|(?<!\\)\*|<br>", "", md).replace("\\", "").strip()


def strip_prefix(md: str, rx) -> str:
    """Remove an outline prefix from inline Markdown that may open with ** (a bold heading line). The prefixes
    hold no character that escape() changes, so they appear in the Markdown as typed."""
    lead = re.match(r"^(?:\*\*|\*)?", md).group(0)
    rest = md[len(lead):]
    m = rx.match(rest)
    if not m:
        return md
    rest = rest[m.end():]
    if lead and rest.startswith(lead):  # "**1、**text": the bold covered the number only
        return rest[len(lead):].lstrip()
    return lead + rest


class Tables:
    def __init__(self):
        self.count = 0
        self.merged: list[int] = []


def table_block(table, tables: Tables) -> Block:
    tables.count += 1
    rows = [tr for tr in table.iter("tr") if tr.getparent() is table or tr.getparent().getparent() is table]
    cells = [[c for c in tr if c.tag in ("td", "th")] for tr in rows]
    merged = any(c.get("colspan") or c.get("rowspan") for row in cells for c in row) or \
        table.find(".//table") is not None or len({len(row) for row in cells}) > 1
    if merged:
        tables.merged.append(tables.count)
        html = lxml.html.tostring(table, encoding="unicode")
        html = re.sub(r">\s*\n\s*<", "><", sanitise(html))
        return Block("html", md=re.sub(r"(</tr>|</thead>|</tbody>)", r"\1\n", html).strip(), plain="table")
    if not cells or not cells[0]:
        return Block("html", md="", plain="")
    texts = [[inline(c, cell=True).replace("|", "\\|").replace("\n", " ").strip() for c in row] for row in cells]
    lines = ["| " + " | ".join(texts[0]) + " |", "| " + " | ".join("---" for _ in texts[0]) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in texts[1:]]
    return Block("table", md="\n".join(lines), plain="table")


def list_md(el, indent: int = 0) -> list[str]:
    lines = []
    ordered = el.tag == "ol"
    for n, li in enumerate((c for c in el if c.tag == "li"), start=1):
        nested = [c for c in li if c.tag in ("ul", "ol")]
        for c in nested:
            li.remove(c)
        text = inline(li, cell=True).strip()
        lines.append(" " * indent + (f"{n}. " if ordered else "- ") + text)
        for c in nested:
            lines += list_md(c, indent + 4)
    return lines


def html_blocks(html: str, tables: Tables) -> list[Block]:
    root = lxml.html.fragment_fromstring(html, create_parent="div") if html.strip() else None
    blocks = []
    for el in [] if root is None else root:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag == "table":
            blocks.append(table_block(el, tables))
        elif tag in ("ul", "ol"):
            blocks.append(Block("list", md="\n".join(list_md(el)), plain="list"))
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6", "p"):
            md = re.sub(r"[ \t]+", " ", inline(el)).strip()
            if md:
                level = int(tag[1]) if tag != "p" else 0
                blocks.append(Block("heading" if level else "para", md=md, plain=plain_of(md), level=level,
                                    styled=bool(level)))
    return blocks


def classify(blocks: list[Block]) -> list[Block]:
    """Outline prefixes and heading styles → heading levels; 1、 items → a list or #### (when they head a block).
    The highest heading style in use becomes ## (a document that starts at Heading 2 is not shifted down), unless
    一、 lines hold that level."""
    styled = [b.level for b in blocks if b.styled]
    top = 1 if not styled or any(OUTLINE[0][1].match(b.plain) for b in blocks if b.kind in ("para", "heading")) \
        else min(styled)

    def style_level(word_level: int) -> int:
        return max(2, min(word_level - top + 2, 6))

    out = []
    for b in blocks:
        if b.kind not in ("para", "heading"):
            out.append(b)
            continue
        for level, rx in OUTLINE:
            m = rx.match(b.plain)
            if not m or not b.plain[m.end():].strip():
                continue
            rest = b.plain[m.end():].strip()
            if level == 4 and not b.styled:
                out.append(Block("item", md=strip_prefix(b.md, rx), plain=rest, level=int(m.group(1))))
            elif len(rest) <= HEADING_MAX or b.styled:
                out.append(Block("heading", md=rest, plain=rest, level=level if not b.styled or level < 4
                                 else style_level(b.level)))
            else:
                out.append(b if b.kind == "para" else Block("para", md=b.md, plain=b.plain))
            break
        else:
            sub = SUB_ITEM.match(b.plain)
            if sub and b.plain[sub.end():].strip():
                number = int(sub.group(1)) if sub.group(1) else CIRCLED.index(sub.group(2)) + 1
                out.append(Block("sub", md=strip_prefix(b.md, SUB_ITEM), plain=b.plain[sub.end():], level=number))
            elif b.kind == "heading":
                text = STYLE_NUMBER.sub("", b.plain, count=1).strip() or b.plain
                out.append(Block("heading", md=text, plain=text, level=style_level(b.level)))
            else:
                out.append(b)
    return items_to_headings(out)


def items_to_headings(blocks: list[Block]) -> list[Block]:
    """A run of 1、 items between two headings is a list, unless content sits between its items: then each
    item heads the block below it (####). One item followed by content heads it when it reads like a title."""
    i = 0
    while i < len(blocks):
        if blocks[i].kind != "item":
            i += 1
            continue
        end = i
        while end < len(blocks) and not (blocks[end].kind == "heading" and blocks[end].level <= 3):
            end += 1
        group = [n for n in range(i, end) if blocks[n].kind == "item"]
        followed = [n + 1 < end and blocks[n + 1].kind not in ("item", "sub") for n in group]
        heads = any(followed[:-1]) or (len(group) == 1 and followed[0] and len(blocks[group[0]].plain) <= 30
                                       and not blocks[group[0]].plain.endswith(("。", "；", ";", "：", ":")))
        if heads:
            for n in group:
                blocks[n] = Block("heading", md=blocks[n].plain, plain=blocks[n].plain, level=4)
        i = end
    return blocks


def render(blocks: list[Block]) -> str:
    parts: list[str] = []
    in_list = None
    for b in blocks:
        if b.kind in ("item", "sub"):
            nested = b.kind == "sub" and in_list in ("item", "sub-nested")
            line = ("    " if nested else "") + f"{b.level}. {b.md}"
            if in_list:
                parts[-1] += "\n" + line
            else:
                parts.append(line)
            in_list = "sub-nested" if nested else b.kind
            continue
        in_list = None
        if b.kind == "heading":
            parts.append("#" * b.level + " " + b.md.replace("**", "").strip())
        elif b.md:
            parts.append(b.md if b.kind != "para" else protect_line_start(b.md))
    return "\n\n".join(parts).strip() + "\n"


def protect_line_start(md: str) -> str:
    """A paragraph that happens to start like Markdown syntax stays a paragraph."""
    if re.match(r"^(#{1,6}\s|>|[-+]\s|\d+[.)]\s|\||=+\s*$|-{3,}\s*$)", md):
        return "\\" + md
    return md


# ---------------------------------------------------------------------------------------------- the entry points


def convert_docx(data: bytes, max_bytes: int = MAX_BYTES, max_unpacked: int = MAX_UNPACKED,
                 max_xml: int = MAX_XML) -> ImportResult:
    """A Word .docx → Markdown body, image attachments, report. Raises WordImportError for anything else."""
    check_size(data, max_bytes)
    package = open_package(data, max_unpacked, max_xml)
    margins = headers_and_footers(package)
    try:
        document = docx.Document(BytesIO(data))
        found = prepare(document)
        title = found.title or (document.core_properties.title or "").strip() or None
        prepared = BytesIO()
        document.save(prepared)
    except WordImportError:
        raise
    except Exception:  # a damaged package can make python-docx raise nearly anything
        raise WordImportError("The file is damaged: it is not a readable .docx.") from None
    images = Images()
    prepared.seek(0)
    result = mammoth.convert_to_html(prepared, style_map=STYLE_MAP, convert_image=images,
                                     include_embedded_style_map=False)
    tables = Tables()
    blocks = classify(html_blocks(sanitise(result.value), tables))
    markdown = render(blocks)
    if not markdown.strip():
        raise WordImportError("The document has no text to import.")
    report = docx_report(blocks, tables, images, found, margins, title)
    report += [gettext("Word converter: %(message)s", message=m.message) for m in result.messages
               if not m.message.startswith("Unrecognised") and "ImportHeading" not in m.message]
    return ImportResult(markdown=markdown, attachments=images.files, report=report, title=title, code=found.code)


def docx_report(blocks, tables: Tables, images: Images, found: Prepared, margins: list[str], title) -> list[str]:
    headings = sum(1 for b in blocks if b.kind == "heading")
    report = [gettext("Converted: headings %(headings)d, paragraphs %(paragraphs)d, list items %(items)d, "
                      "tables %(tables)d, images %(images)d.",
                      headings=headings, paragraphs=sum(1 for b in blocks if b.kind == "para"),
                      items=sum(1 for b in blocks if b.kind in ("item", "sub")) +
                      sum(b.md.count("\n") + 1 for b in blocks if b.kind == "list"),
                      tables=tables.count, images=len(images.files))]
    if title:
        report.append(gettext("Title: %(title)s", title=title))
    if headings:
        report.append(gettext("Outline numbering became headings (一、 → ##, （一） → ###, 1、 → #### or a "
                              "numbered list); the numbers themselves were removed from the headings."))
    if found.labels:
        report.append(gettext("Word's automatic numbering: %(count)d labels were read from the document "
                              "(for example %(examples)s).", count=len(found.labels),
                              examples=" ".join(list(dict.fromkeys(found.labels))[:3])))
    for n in tables.merged:
        report.append(gettext("Table %(number)d has merged cells; it was kept as an HTML table.", number=n))
    if found.toc_lines:
        report.append(gettext("Left out: the table of contents with its page numbers (lines: %(count)d).",
                              count=found.toc_lines))
    if margins:
        report.append(gettext("Left out: page headers and footers (%(text)s).",
                              text="; ".join(f"“{t}”" for t in margins)))
    if found.control_lines:
        report.append(gettext("Left out: document-control lines, which the front matter replaces (%(text)s).",
                              text="; ".join(f"“{t}”" for t in found.control_lines)))
    for content_type in images.skipped:
        report.append(gettext("Left out: an image of type %(type)s (only PNG and JPEG are kept).",
                              type=content_type))
    return report


FRONT = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*(?:\n|\Z)", re.S)


def decode_text(data: bytes) -> tuple[str, bool]:
    """UTF-8 (with or without BOM), else GB18030 (what Chinese Windows editors save); True when it was GB18030."""
    if b"\x00" in data[:4096]:
        raise WordImportError("The file is not a text file.")
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), True
    except UnicodeDecodeError:
        raise WordImportError("The file is neither UTF-8 nor GB18030 text.") from None


def convert_text(data: bytes, suffix: str, max_bytes: int = MAX_BYTES) -> ImportResult:
    """A .md keeps its body (its front matter is replaced; its title and id are kept as guesses); a .txt
    becomes paragraphs, one per line, with the same outline rules as Word (一、 → ## …)."""
    check_size(data, max_bytes)
    text, legacy = decode_text(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    report = [gettext("Read as GB18030 text and saved as UTF-8.")] if legacy else []
    title = code = None
    if suffix.lower() in (".md", ".markdown"):
        m = FRONT.match(text)
        if m:
            try:
                meta = yaml.safe_load(m.group(1))
            except yaml.YAMLError:
                meta = None
            if isinstance(meta, dict):
                title = str(meta.get("title") or "").strip() or None
                code = str(meta.get("id") or "").strip() or None
            text = text[m.end():]
            report.append(gettext("The file's front matter was replaced; its body was kept as it is."))
        else:
            heading = re.match(r"\A\s*#\s+(.+)\n", text)
            if heading:
                title, text = heading.group(1).strip(), text[heading.end():]
        markdown = text.strip() + "\n"
        report.insert(0, gettext("Imported Markdown: lines %(lines)d.", lines=markdown.count("\n")))
    else:
        lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
        lines = [line for line in lines if line]
        blocks = []
        for line in lines:
            if TOC_LINE.match(line) or CONTENTS.match(line):
                continue
            if title is None and not blocks and not any(rx.match(line) for _l, rx in OUTLINE):
                title = line.strip("《》 ")
                continue
            blocks.append(Block("para", md=escape(line), plain=line))
        blocks = classify(blocks)
        markdown = render(blocks)
        report.insert(0, gettext("Imported text: paragraphs %(paragraphs)d, headings %(headings)d.",
                                 paragraphs=sum(1 for b in blocks if b.kind != "heading"),
                                 headings=sum(1 for b in blocks if b.kind == "heading")))
    if not markdown.strip():
        raise WordImportError("The document has no text to import.")
    return ImportResult(markdown=markdown, report=report, title=title, code=code)
