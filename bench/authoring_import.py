"""Word import benchmark: a generated 50-page .docx with 20 tables and 10 images (issue #17: import <= 5 s,
peak memory stated).

    cd /work/main && PYTHONPATH=. .venv/bin/python bench/authoring_import.py [--runs 5] [--keep DIR]

The document is written with python-docx into a temporary folder: 10 chapters (一、… 十、, typed in bold
Normal paragraphs) of 5 pages each, a page break after every page (so at least 50 pages), about 600
characters of text per page in runs with fonts set (as Word writes them), Word's automatic numbering
(chineseCounting （一） and decimal 1、) on the sections, a table of contents with page numbers, a page header and
footer, 20 tables (5 rows × 3 columns, one in four with a merged cell) and 10 PNG images (320 × 240 of noise,
which does not compress: about 230 KB each, like photos).

Measured, each in a fresh child process (so the memory figure is the conversion's own):
  (a) convert_docx(bytes) in-process, --runs times: wall time of each run (target <= 5 s), of which mammoth,
      and CPU time (what the run costs when other processes share the 2 cores);
      the child's peak RSS (VmHWM) after its imports and after the runs;
  (b) `flask sops import FILE --department 前厅部 --print` as a user runs it (interpreter start included), and
      its peak RSS (getrusage of a wrapper's child); the CLI's start-up alone (`flask sops --help`) beside it;
  (c) `flask sops import FILE --department 前厅部` (creates the draft with its 10 attachments, then commits),
      over a temporary SQLite database made with `flask db upgrade` and `flask demo load`;
  (d) the refusals: a 150 MB zip bomb and a renamed binary, time until the error;
  (e) how memory and CPU grow with the XML: documents of 1,000 and 5,000 formatted paragraphs (about 1 and 5 MB
      of document.xml), one conversion each (what the 8 MB MAX_XML limit in wordimport.py rests on).
Figures are printed, never asserted.
"""
import argparse
import io
import json
import os
import random
import shutil
import subprocess
import struct
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import docx
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from demo.make_word_manual import add_numbering, bold, header_footer, number, table, toc_style  # noqa: E402
from harness import bench_env, run_flask, tool  # noqa: E402

CHAPTERS = "一二三四五六七八九十"
SENTENCES = [
    "前台接待在客人到达前核对预订信息，确认房型、房价和付款方式，并把特殊要求写入交接本。",
    "团队抵店时由大堂副理现场指挥，礼宾员负责行李，前台按分房表逐一发放房卡。",
    "所有入住人须刷证登记并在十分钟内完成公安系统上传，证件不全者不得代为登记。",
    "夜审员核对当日房费、杂费和押金，发现差异时先查原始单据，再报值班经理处理。",
    "客人提出投诉时先致歉并记录要点，能当场解决的当场解决，不能解决的在两小时内回复。",
    "交接班时当面清点备用金、钥匙和未完成事项，双方在交接本上签字确认。",
]


def photo(width: int, height: int, seed: int) -> bytes:
    """A PNG of noise: it does not compress, like a photo or a screenshot of one (about 230 KB)."""
    rng = random.Random(seed)
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def text(d, sentences: list[str]):
    """A paragraph of several runs with the fonts Word writes for Chinese text (rFonts eastAsia, size)."""
    paragraph = d.add_paragraph()
    for i, sentence in enumerate(sentences):
        run = paragraph.add_run(sentence)
        run.bold = i == 1
        run.font.size = Pt(10.5)
        run.font.name = "Times New Roman"
        run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "宋体")
    return paragraph


def make_document(path: Path) -> dict:
    d = docx.Document()
    header_footer(d, "云栖酒店集团 受控文件", "第 1 页")
    d.add_paragraph("前厅部综合操作手册", style="Title")
    bold(d, "目录")
    for n, ch in enumerate(CHAPTERS):
        d.add_paragraph(f"{ch}、第{ch}章 ........................ ({n * 5 + 1})", style=toc_style(d, 1))
    sections = add_numbering(d, [("chineseCounting", "（%1）"), ("decimal", "%2、")])
    tables = images = 0
    for c, ch in enumerate(CHAPTERS):
        bold(d, f"{ch}、第{ch}章 操作要求")
        for page in range(5):
            number(bold(d, f"第{ch}章第{page + 1}节"), sections, 0)
            for k in range(2):
                number(d.add_paragraph(f"要点 {k + 1}"), sections, 1)
                text(d, [SENTENCES[(c + page + k + i) % len(SENTENCES)] for i in range(4)])
            if page in (1, 3) and tables < 20:
                t = table(d, [("步骤", "标准", "提示")] + [(f"{r}. 第{r}步", SENTENCES[r % 6][:30], SENTENCES[(r + 2) % 6][:20])
                                                       for r in range(1, 5)])
                if tables % 4 == 3:
                    t.cell(1, 2).merge(t.cell(2, 2))
                tables += 1
            if page == 2 and images < 10:
                d.add_picture(io.BytesIO(photo(320, 240, seed=c)), width=Cm(8))
                images += 1
            if not (c == len(CHAPTERS) - 1 and page == 4):
                d.add_page_break()
    d.save(path)
    return {"tables": tables, "images": images, "page_breaks": 49, "bytes": path.stat().st_size}


def make_long(path: Path, paragraphs: int) -> int:
    """Text only: `paragraphs` formatted paragraphs, a Heading 2 every 20; returns document.xml's size."""
    d = docx.Document()
    for i in range(paragraphs):
        if i % 20 == 0:
            d.add_paragraph(f"第{i // 20 + 1}节", style="Heading 2")
        text(d, [SENTENCES[(i + k) % len(SENTENCES)] for k in range(4)])
    d.save(path)
    return zipfile.ZipFile(path).getinfo("word/document.xml").file_size


CHILD = r"""
import json, sys, time


def hwm_kb():  # VmHWM: this process's peak RSS (ru_maxrss would keep the parent's across fork and exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


t0 = time.perf_counter()
import mammoth
from app.authoring import wordimport
imported = time.perf_counter() - t0
rss_imports = hwm_kb()
spent = []
real = mammoth.convert_to_html
def timed(*a, **k):
    t = time.perf_counter()
    try:
        return real(*a, **k)
    finally:
        spent.append(time.perf_counter() - t)
wordimport.mammoth.convert_to_html = timed
data = open(sys.argv[1], "rb").read()
runs, cpu = [], []
for _ in range(int(sys.argv[2])):
    t, c = time.perf_counter(), time.process_time()
    result = wordimport.convert_docx(data)
    runs.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
print(json.dumps({"runs": runs, "cpu": cpu, "mammoth": spent, "import_s": imported, "rss_imports_kb": rss_imports,
                  "rss_peak_kb": hwm_kb(),
                  "markdown_chars": len(result.markdown), "attachments": len(result.attachments),
                  "headings": sum(1 for l in result.markdown.split("\n") if l.startswith("#")),
                  "pipe_tables": sum(1 for l in result.markdown.split("\n") if l.startswith("| ---")),
                  "html_tables": result.markdown.count("<table>"), "report": result.report}))
"""

MEASURED = r"""
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
"""

REFUSE = r"""
import sys, time
from app.authoring.wordimport import WordImportError, convert_docx
data = open(sys.argv[1], "rb").read()
t = time.perf_counter()
try:
    convert_docx(data)
except WordImportError as e:
    print(f"{(time.perf_counter() - t) * 1000:.1f} ms: {e}")
"""


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return env


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="also copy the generated .docx here")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        tmp = Path(tmp)
        path = tmp / "前厅部综合操作手册.docx"
        made = make_document(path)
        if args.keep:
            shutil.copy(path, args.keep)
        print(f"document: {made['bytes'] / 1024:.0f} KB, {made['page_breaks'] + 1} pages (page breaks), "
              f"{made['tables']} tables, {made['images']} images")

        out = subprocess.run([python, "-c", CHILD, str(path), str(args.runs)], cwd=ROOT, env=child_env(),
                             capture_output=True, text=True, check=True).stdout
        m = json.loads(out)
        runs = sorted(m["runs"])
        print(f"(a) convert_docx x{len(runs)}: min {runs[0]:.2f} s, median {runs[len(runs) // 2]:.2f} s, "
              f"max {runs[-1]:.2f} s (target <= 5 s); of which mammoth median "
              f"{sorted(m['mammoth'])[len(runs) // 2]:.2f} s; CPU time median {sorted(m['cpu'])[len(runs) // 2]:.2f} s")
        print(f"    RSS after imports {m['rss_imports_kb'] / 1024:.0f} MB, peak {m['rss_peak_kb'] / 1024:.0f} MB "
              f"(conversion adds {(m['rss_peak_kb'] - m['rss_imports_kb']) / 1024:.0f} MB); imports took "
              f"{m['import_s']:.2f} s")
        print(f"    output: {m['markdown_chars']} characters, {m['headings']} headings, "
              f"{m['pipe_tables']} pipe tables, "
              f"{m['html_tables']} HTML tables, {m['attachments']} attachments")
        for line in m["report"]:
            print(f"      {line}")

        instance, content = tmp / "instance", tmp / "content"
        shutil.copytree(ROOT / "content", content)
        env = bench_env(instance, content)
        run_flask(["db", "upgrade"], env)
        run_flask(["demo", "load"], env)
        _out, startup = run_flask(["sops", "--help"], env)
        print(f"    (the flask CLI's own start-up, `flask sops --help`: {startup:.2f} s)")
        for label, extra in (("(b) --print", ["--print"]), ("(c) draft", [])):
            t0 = time.monotonic()
            proc = subprocess.run([python, "-c", MEASURED, tool("flask"), "sops", "import", str(path), "--department",
                                   "前厅部", *extra], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
            elapsed = time.monotonic() - t0
            rss_kb = int(proc.stderr.strip().split("\n")[-1])
            first = f"{len(proc.stdout)} characters on stdout" if extra else proc.stdout.split("\n")[0]
            print(f"{label} flask sops import: {elapsed:.2f} s wall (start-up included), "
                  f"peak RSS {rss_kb / 1024:.0f} MB; "
                  f"{first}")

        bomb = tmp / "bomb.docx"
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("word/document.xml", b"<w:document>" + b" " * (150 * 1024 * 1024) + b"</w:document>")
        renamed = tmp / "renamed.docx"
        renamed.write_bytes(os.urandom(200_000))
        for label, f in (("zip bomb (150 MB unpacked, " + f"{bomb.stat().st_size // 1024} KB packed)", bomb),
                         ("renamed binary (200 KB)", renamed)):
            out = subprocess.run([python, "-c", REFUSE, str(f)], cwd=ROOT, env=child_env(), capture_output=True,
                                 text=True, check=True).stdout.strip()
            print(f"(d) {label}: refused after {out}")
        for paragraphs in (1000, 5000):
            long = tmp / f"long-{paragraphs}.docx"
            xml = make_long(long, paragraphs)
            out = subprocess.run([python, "-c", CHILD, str(long), "1"], cwd=ROOT, env=child_env(),
                                 capture_output=True, text=True, check=True).stdout
            m = json.loads(out)
            print(f"(e) {paragraphs} formatted paragraphs, {xml / 1048576:.1f} MB of document.xml "
                  f"({long.stat().st_size // 1024} KB .docx): CPU {m['cpu'][0]:.1f} s, RSS after imports "
                  f"{m['rss_imports_kb'] / 1024:.0f} MB, peak {m['rss_peak_kb'] / 1024:.0f} MB "
                  f"(+{(m['rss_peak_kb'] - m['rss_imports_kb']) / 1024:.0f} MB)")
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}, python {sys.version.split()[0]}, "
          f"flask at {tool('flask')}")


if __name__ == "__main__":
    main()
