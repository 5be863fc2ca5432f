"""`assistant data select --by quality` throughput: the bundled SmolLM2-135M-Instruct judges the
first N single-turn rows of the shared LIMA data (read in place), no cache. Prints one JSON line.

    nice -n 19 .venv/bin/python bench/curate_quality.py [--rows 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.commands.data_cmd import open_judge  # noqa: E402
from finetune.curate.judge import ScoreCache, scorer_for  # noqa: E402
from finetune.curate.select import SelectConfig, run_select  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lima", default=str(Path(__file__).resolve().parents[2] / "shared/data/lima/train.jsonl"))
    ap.add_argument("--rows", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--judge", default="smollm2-135m-instruct")
    args = ap.parse_args()
    lines = [x for x in Path(args.lima).read_text(encoding="utf-8").splitlines() if '"multi_turn"' not in x][: args.rows]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.jsonl"
        path.write_text("\n".join(lines) + "\n")
        generate, judge_id, close = open_judge(args.judge, ctx_size=4096, threads=args.threads)
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            sel = run_select(str(path), SelectConfig(n=args.rows, by="quality", judge=args.judge, dedupe=False),
                             scorer=(scorer_for(generate), judge_id, ScoreCache(None)), say=lambda m: None)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        finally:
            close()
    hist: dict[str, int] = {}
    for s in sel.scores.values():
        hist[str(s["score"])] = hist.get(str(s["score"]), 0) + 1
    print(json.dumps({"bench": "curate_quality", "judge": judge_id, "rows": len(sel.scores), "threads": args.threads,
                      "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                      "rows_per_minute": round(len(sel.scores) / wall * 60, 1), "scores": hist}))


if __name__ == "__main__":
    main()
