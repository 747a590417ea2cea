"""How fast and small the refusal of hostile front matter is (issue #16): the four files that once stopped
`flask sops sync`, each read through `read_sop` as the sync reads it.

    PYTHONPATH=. .venv/bin/python bench/yaml_limits.py

Prints, per file: its size, the reason it was refused, the wall-clock time (best of 5) and the peak Python
memory allocated while reading it (a separate run under tracemalloc). Figures are printed, never asserted.
"""
import tempfile
import time
import tracemalloc
from pathlib import Path

from app.sops.content import ContentError, read_sop

FRONT = """---
id: FO-X-100
title: 测试规程
department: 前厅部
version: "1.0"
effective: 2026-01-01
{extra}
---
## 第一节

正文。
"""


def alias_bomb() -> str:
    lols = ",".join(['"lol"'] * 9)
    levels = [f"&a [{lols}]"] + [f"&{c} [{','.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
    return f"owner: [{', '.join(levels)}]"


CASES = {
    "effective: 2026-02-30": FRONT.replace("effective: 2026-01-01", "effective: 2026-02-30").format(extra=""),
    "department: [前厅部]": FRONT.replace("department: 前厅部", "department: [前厅部]").format(extra=""),
    "owner nested 5,000 deep": FRONT.format(extra="owner: " + "[" * 5000 + "]" * 5000),
    "alias bomb": FRONT.format(extra=alias_bomb()),
}


def read(path: Path, root: Path) -> str:
    try:
        read_sop(path, root, {"前厅部"}, set(), 1024 * 1024)
        return "accepted (!)"
    except ContentError as e:
        return f"line {e.line}: {e.reason}"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"{'file':26} {'bytes':>7} {'ms':>8} {'peak KiB':>9}  outcome")
        for name, text in CASES.items():
            path = root / "bad.md"
            path.write_text(text, encoding="utf-8")
            times = []
            for _ in range(5):
                start = time.perf_counter()
                outcome = read(path, root)
                times.append(time.perf_counter() - start)
            elapsed = min(times) * 1000
            tracemalloc.start()
            read(path, root)
            peak = tracemalloc.get_traced_memory()[1] / 1024
            tracemalloc.stop()
            size = len(alias_bomb().encode()) if name == "alias bomb" else path.stat().st_size
            print(f"{name:26} {size:>7} {elapsed:>8.2f} {peak:>9.0f}  {outcome}")
        print("(alias bomb bytes: the owner line alone)")


if __name__ == "__main__":
    main()
