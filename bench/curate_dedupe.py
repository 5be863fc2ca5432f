"""Near-duplicate recall and false positives of `assistant data select`'s dedupe on a planted pool
built from the shared LIMA data (read in place, never copied), and dedupe time on 100,000 rows.

The planted pool: LIMA's single-turn rows, then for 400 of them (seeded) one copy each with the
prompt changed in one of four ways (upper/lower case, punctuation, whitespace, one word replaced).
Recall: planted copies dropped as duplicates. False positives: original rows dropped as duplicates
(LIMA's own near-duplicates count here too). The timing pool: 100,000 rows whose prompts draw 5-80 words from LIMA's
text and whose replies are cut from LIMA's replies (seeded); dedupe_s is wall time, dedupe_cpu_s this process's CPU time
(the same on an idle machine; wall time grows when other jobs share the cores). Prints one JSON line.

    nice -n 19 .venv/bin/python bench/curate_dedupe.py [--lima PATH] [--rows 100000] [--threshold 0.7]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from finetune.curate.dedupe import SHINGLE, THRESHOLD, find_duplicates  # noqa: E402
from finetune.curate.pool import load_pool  # noqa: E402

KINDS = ("case", "punctuation", "whitespace", "word")


def vary(prompt: str, kind: str, rng: random.Random, vocab: list[str]) -> str:
    if kind == "case":
        return prompt.upper() if rng.random() < 0.5 else prompt.lower()
    if kind == "punctuation":
        stripped = re.sub(r"[^\w\s]", "", prompt)
        return stripped if stripped != prompt else prompt + "?!"
    if kind == "whitespace":
        return re.sub(r"\s+", lambda m: rng.choice(["  ", "\n", " \t "]), prompt).strip() + "\n"
    words = prompt.split(" ")
    i = rng.randrange(len(words))
    words[i] = rng.choice([w for w in vocab if w.lower() != words[i].lower()][:5000])
    return " ".join(words)


def planted(lima: Path, plants: int, seed: int) -> tuple[list[dict], set[int], set[int]]:
    rows = [json.loads(x) for x in lima.read_text(encoding="utf-8").splitlines() if x.strip()]
    single = [r for r in rows if len(r["conversations"]) == 2 and r.get("source") != "multi_turn"]
    rng = random.Random(seed)
    vocab = sorted({w for r in single for w in re.findall(r"[A-Za-z]{4,}", r["conversations"][0])})
    out = list(single)
    copies = set()
    for k, i in enumerate(rng.sample(range(len(single)), plants)):
        prompt, reply = single[i]["conversations"]
        out.append({"conversations": [vary(prompt, KINDS[k % 4], rng, vocab), reply], "source": f"planted-{KINDS[k % 4]}"})
        copies.add(len(out))  # 1-based line
    return out, set(range(1, len(single) + 1)), copies


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lima", default=str(Path(__file__).resolve().parents[2] / "shared/data/lima/train.jsonl"))
    ap.add_argument("--plants", type=int, default=400)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--threshold", type=float, default=THRESHOLD)
    ap.add_argument("--shingle", type=int, default=SHINGLE)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows, originals, copies = planted(Path(args.lima), args.plants, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "planted.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        pool = load_pool(str(path))
        dup = find_duplicates(pool.good, threshold=args.threshold, shingle=args.shingle)
        dropped = set(dup.exact) | set(dup.near)
        by_kind = {k: 0 for k in KINDS}
        for line in copies & dropped:
            by_kind[rows[line - 1]["source"].removeprefix("planted-")] += 1
        fp_lines = sorted(originals & dropped)
        rng = random.Random(args.seed)
        texts = [r["conversations"] for r in rows[: len(originals)]]
        corpus = [w for p, a in texts for w in (p + " " + a).split()]  # LIMA's words at their frequencies
        big = Path(tmp) / "big.jsonl"
        with open(big, "w") as fh:
            for _ in range(args.rows):  # prompts of 5-80 words drawn from LIMA's text, replies cut from LIMA's
                prompt = " ".join(rng.choices(corpus, k=rng.randint(5, 80)))
                reply = rng.choice(texts)[1].split()
                fh.write(json.dumps({"conversations": [prompt, " ".join(reply[: rng.randint(20, 300)])]}) + "\n")
        t0 = time.perf_counter()
        big_pool = load_pool(str(big))
        t_read = time.perf_counter() - t0
        t1, c1 = time.perf_counter(), time.process_time()
        big_dup = find_duplicates(big_pool.good, threshold=args.threshold, shingle=args.shingle)
        t_dedupe, c_dedupe = time.perf_counter() - t1, time.process_time() - c1
    result = {
        "bench": "curate_dedupe", "threshold": args.threshold, "shingle": args.shingle,
        "originals": len(originals), "planted": len(copies),
        "recall": round(len(copies & dropped) / len(copies), 4),
        "recall_by_kind": {k: round(v / (len(copies) / 4), 4) for k, v in by_kind.items()},
        "originals_dropped": len(fp_lines), "false_positive_rate": round(len(fp_lines) / len(originals), 4),
        "originals_dropped_lines": fp_lines[:20],
        "rows_timed": args.rows, "read_s": round(t_read, 1), "dedupe_s": round(t_dedupe, 1), "dedupe_cpu_s": round(c_dedupe, 1),
        "timed_duplicates": len(big_dup.exact) + len(big_dup.near),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
