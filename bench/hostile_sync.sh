#!/bin/bash
# The four files that used to abort `flask sops sync` (issue #16), beside one edited SOP, in a throw-away demo
# instance; prints the sync's report, its time and memory, and its exit status (1: something was skipped).
#     bash bench/hostile_sync.sh            (VENV=/path/to/venv to use another virtual environment)
set -e
cd "$(dirname "$0")/.."
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cp -r content "$TMP/content"
export FLASK_APP=wsgi.py PYTHONPATH=. SOP_INSTANCE_DIR="$TMP/instance" SOP_DIR="$TMP/content/sops" CONTENT_DIR="$TMP/content"
F="${VENV:-.venv}/bin/flask"
"$F" db upgrade >/dev/null 2>&1
"$F" demo load >/dev/null 2>&1
"${VENV:-.venv}/bin/python" - "$TMP/content/sops" <<'PY'
import re, sys
from pathlib import Path
root = Path(sys.argv[1])
lols = ",".join(['"lol"'] * 9)
levels = [f"&a [{lols}]"] + [f"&{c} [{','.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
bomb = f"owner: [{', '.join(levels)}]"
front = (root / "front-office" / "check-in.md").read_text(encoding="utf-8")
eff = re.search(r"effective: \S+", front).group(0)
for name, old, new in [("date", eff, "effective: 2026-02-30"), ("dept", "department: 前厅部", "department: [前厅部]"),
                       ("deep", eff, eff + "\nowner: " + "[" * 5000 + "]" * 5000), ("bomb", eff, eff + "\n" + bomb)]:
    text = front.replace("id: FO-CI-001", f"id: FO-ZZ-{name.upper()}", 1).replace(old, new, 1)
    (root / "front-office" / f"zz-{name}.md").write_text(text, encoding="utf-8")
with open(root / "finance" / "petty-cash.md", "a", encoding="utf-8") as f:
    f.write("\n补充一句。\n")
PY
set +e
/usr/bin/time -f "%e s, %M KB max RSS" "$F" sops sync 2>&1 | grep -v "rebuilding from the database"
echo "exit status: ${PIPESTATUS[0]}"
