"""Search quality: recall@5 and MRR over the relevance set, for our search and for SQLite FTS5 (trigram).

    PYTHONPATH=. .venv/bin/python bench/search_quality.py [--noise 300]

Both engines index the same documents: the demo SOPs plus a generated noise corpus (--noise SOPs written
in the same register from generic hotel-operations wording), so that every query has distractors that
share its common words (客人, 系统, 检查, 流程 …) but not the answer. A query is found when any expected SOP is in the top 5; MRR uses the
rank of the first expected SOP. Figures are printed, never asserted (tests/test_search.py asserts the
targets over the demo content).
"""
import argparse
import os
import random
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
QUERIES = yaml.safe_load((ROOT / "tests" / "search_relevance.yaml").read_text(encoding="utf-8"))["queries"]


NOUNS = ["前台", "客人", "系统", "电脑", "打印机", "报表", "主管", "值班经理", "员工", "账单", "房间", "钥匙", "记录",
         "表单", "电话", "网络", "服务器", "门店", "部门", "流程", "班次", "现金", "单据", "设备", "工单", "数据"]
VERBS = ["检查", "确认", "登记", "核对", "通知", "上报", "整理", "更新", "保存", "复核", "提交", "处理", "归档", "跟进"]
ADVERBS = ["及时", "认真", "每日", "按规定", "逐项", "当班内", "在交班前", "必要时"]


def sentence(rng: random.Random) -> str:
    return (f"{rng.choice(ADVERBS)}{rng.choice(VERBS)}{rng.choice(NOUNS)}的{rng.choice(NOUNS)}，"
            f"{rng.choice(VERBS)}后由{rng.choice(NOUNS)}{rng.choice(VERBS)}。")


def make_noise(sops_dir: Path, count: int, seed: int = 7) -> None:
    """Generated distractor SOPs in the same register (generic hotel-operations wording, step tables,
    FAQ headings) that share the common words of the queries but not the specific answers."""
    rng = random.Random(seed)
    out = sops_dir / "generated"
    out.mkdir()
    for n in range(count):
        parts = []
        for heading in rng.sample(["目的", "适用范围", "职责", "操作步骤", "注意事项", "常见问题及解决方法", "相关表单",
                                    "交接要求", "检查清单"], 5):
            body = "".join(sentence(rng) for _ in range(rng.randint(3, 8)))
            parts.append(f"## {heading}\n\n{body}\n")
        dept = rng.choice(["前厅部", "IT支持部", "客服中心", "财务部"])
        (out / f"gen-{n:04d}.md").write_text(
            f"---\nid: GEN-{n:04d}\ntitle: {rng.choice(NOUNS)}{rng.choice(VERBS)}规程 第{n}号\ndepartment: {dept}\n"
            f"version: \"1.0\"\neffective: 2026-01-01\n---\n" + "\n".join(parts), encoding="utf-8")


def ours(instance: Path, content: Path) -> list[list[str]]:
    os.environ.update(SOP_INSTANCE_DIR=str(instance), SOP_DIR=str(content / "sops"), CONTENT_DIR=str(content),
                      SECRET_KEY=secrets.token_hex(32))
    from app import create_app
    from app.search import rebuild, search

    app = create_app()
    with app.test_request_context("/"):
        rebuild()
        return [[h.code for h in search(q["q"], per_page=5).hits] for q in QUERIES]


def fts5(instance: Path, content: Path) -> list[list[str]]:
    """The zero-dependency baseline: one FTS5 trigram table over the same section documents."""
    from app import create_app
    from app.search.index import active_sops
    from app.search.documents import documents

    app = create_app()
    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE docs USING fts5(code UNINDEXED, title, section, body, tokenize='trigram')")
    with app.app_context():
        for sop in active_sops():
            for d in documents(sop):
                con.execute("INSERT INTO docs VALUES (?, ?, ?, ?)", (d["code"], d["title"], d["section"], d["body"]))
    out = []
    for q in QUERIES:
        words = [w for w in q["q"].replace('"', " ").split() if w]
        long_words = [w for w in words if len(w) >= 3]
        if long_words:
            match = " OR ".join('"' + w + '"' for w in long_words)
            rows = con.execute("SELECT code FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 0, 5, 2, 1) LIMIT 50",
                               (match,)).fetchall()
        else:
            like = f"%{q['q']}%"
            rows = con.execute("SELECT code FROM docs WHERE title LIKE ? OR body LIKE ? LIMIT 50", (like, like)).fetchall()
        out.append(list(dict.fromkeys(r[0] for r in rows))[:5])
    return out


def score(ranked: list[list[str]], only=None) -> tuple[float, float, int]:
    found, rr, n = 0, 0.0, 0
    for q, got in zip(QUERIES, ranked):
        if only and q["kind"] not in only:
            continue
        n += 1
        ranks = [got.index(e) + 1 for e in q["expect"] if e in got]
        if ranks:
            found += 1
            rr += 1 / min(ranks)
    return found / n, rr / n, n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--noise", type=int, default=300, help="generated distractor SOPs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        content, instance = tmp / "content", tmp / "instance"
        shutil.copytree(ROOT / "content", content)
        make_noise(content / "sops", args.noise)
        env = {**os.environ, "SECRET_KEY": secrets.token_hex(32), "SOP_INSTANCE_DIR": str(instance), "SOP_DIR": str(content / "sops"),
               "CONTENT_DIR": str(content), "FLASK_APP": "wsgi.py", "PYTHONPATH": str(ROOT)}
        flask = str(Path(sys.executable).parent / "flask")
        subprocess.run([flask, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
        sync = subprocess.run([flask, "sops", "sync"], env=env, cwd=ROOT, check=False, capture_output=True, text=True)  # exit 1 = a file was skipped (reported)
        print(f"corpus: demo SOPs + {args.noise} generated distractors ({sync.stdout.strip().splitlines()[-1]})")
        print(f"queries: {len(QUERIES)} from tests/search_relevance.yaml")
        results = {"ours (Whoosh + jieba + bigrams)": ours(instance, content), "SQLite FTS5 trigram": fts5(instance, content)}
    kinds = sorted({q["kind"] for q in QUERIES})
    print(f"\n{'engine':34} {'recall@5':>9} {'MRR':>6}   cross-script recall   " + "  ".join(kinds))
    for name, ranked in results.items():
        recall, mrr, _n = score(ranked)
        cross, _m, _c = score(ranked, {"traditional", "simplified"})
        per_kind = "  ".join(f"{score(ranked, {k})[0]:.2f}".rjust(len(k)) for k in kinds)
        print(f"{name:34} {recall:9.3f} {mrr:6.3f}   {cross:19.3f}   {per_kind}")
    print("\ntargets: recall@5 >= 0.97, MRR >= 0.90, cross-script recall = 1.00")
    ranked = results["ours (Whoosh + jieba + bigrams)"]
    misses = [(q["q"], q["expect"], got) for q, got in zip(QUERIES, ranked) if not set(q["expect"]) & set(got)]
    for q, expect, got in misses:
        print(f"  miss: {q!r} expected {expect}, got {got}")


if __name__ == "__main__":
    main()
