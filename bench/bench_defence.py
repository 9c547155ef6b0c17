"""AI-defence gate benchmark: quality on bench.defence_corpus and speed, ours vs @claude-flow/aidefence.

python -m bench.bench_defence --split dev [--samples N] [--mb 1] [--no-aidefence] [--json] [--misses]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.defence_corpus import generate, traffic_samples

RUNNER = Path(__file__).with_name("aidefence_runner.mjs")


def metrics(samples, preds) -> dict:
    tp = sum(1 for s in samples if s.label and preds[s.id])
    fp = sum(1 for s in samples if not s.label and preds[s.id])
    fn = sum(1 for s in samples if s.label and not preds[s.id])
    tn = sum(1 for s in samples if not s.label and not preds[s.id])
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    out = {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "fpr": fp / (fp + tn) if fp + tn else 0.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }
    groups: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        if s.label:
            groups["category"][s.category].append(preds[s.id])
            groups["obfuscation"][s.obfuscation or "none"].append(preds[s.id])
            if s.obfuscation:
                groups["obfuscation"]["obfuscated"].append(preds[s.id])
        groups["source"][s.source].append(preds[s.id])
    for g, d in groups.items():
        out[g] = {k: sum(v) / len(v) for k, v in sorted(d.items())}  # recall (positives) / flag rate
    return out


def run_ours(samples, traffic):
    from defence.engine import analyse

    preds = {s.id: analyse(s.text).threat for s in samples}
    times = []
    for t in traffic:
        t0 = time.perf_counter()
        analyse(t)
        times.append((time.perf_counter() - t0) * 1000)
    return preds, times


def run_aidefence(samples, traffic, directory: str | None):
    d = Path(directory or Path(tempfile.gettempdir()) / "accord-aidefence")
    if not (d / "node_modules" / "@claude-flow" / "aidefence").exists():
        r = subprocess.run(
            [shutil.which("npm") or "npm", "install", "--prefix", str(d), "@claude-flow/aidefence"],
            capture_output=True,
            text=True,
        )
        if r.returncode:
            print(f"aidefence: npm install failed, skipped ({r.stderr.strip()[-200:]})")
            return None
    lines = [json.dumps({"id": s.id, "text": s.text}) for s in samples]
    lines += [json.dumps({"id": f"traffic-{i}", "text": t}) for i, t in enumerate(traffic)]
    r = subprocess.run(
        [shutil.which("node") or "node", str(RUNNER), str(d)],
        input="\n".join(lines),
        capture_output=True,
        text=True,
        env={"NODE_PATH": str(d / "node_modules"), "PATH": "/usr/bin:/usr/local/bin:/bin"},
        cwd=d,
    )
    if r.returncode:
        print(f"aidefence: runner failed, skipped ({r.stderr.strip()[-300:]})")
        return None
    preds, times = {}, []
    for line in r.stdout.splitlines():
        o = json.loads(line)
        if o["id"].startswith("traffic-"):
            times.append(o["ms"])
        else:
            preds[o["id"]] = bool(o["threat"])
    return preds, times


def speed(times):
    times = sorted(times)
    return {
        "msgs_per_s": 1000 * len(times) / sum(times),
        "median_ms": statistics.median(times),
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--split", choices=("dev", "test"), default="dev")
    ap.add_argument("--samples", type=int)
    ap.add_argument("--mb", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--no-aidefence", action="store_true")
    ap.add_argument("--aidefence-dir")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--misses", action="store_true")
    a = ap.parse_args()
    samples = generate(a.split, a.samples, seed=a.seed)
    traffic = traffic_samples(a.mb)
    results = {}
    preds = None
    try:
        preds, times = run_ours(samples, traffic)
        results["ours"] = metrics(samples, preds) | speed(times)
    except ImportError as e:
        print(f"ours: defence.engine not importable, skipped ({e})")
    if a.misses and preds:
        for s in samples:
            if s.label != preds[s.id]:
                print(("FN" if s.label else "FP"), s.source, s.category, s.obfuscation, repr(s.text[:160]))
    if not a.no_aidefence:
        got = run_aidefence(samples, traffic, a.aidefence_dir)
        if got:
            results["aidefence"] = metrics(samples, got[0]) | speed(got[1])
    if a.json:
        json.dump(results, sys.stdout, indent=2)
        return
    print(f"split={a.split} samples={len(samples)} traffic={len(traffic)} x ~1 KB")
    print(f"{'gate':<10} {'prec':>6} {'recall':>6} {'F1':>6} {'FPR':>6} {'msg/s':>9} {'med ms':>7} {'p99 ms':>7}")
    for k, m in results.items():
        print(
            f"{k:<10} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['fpr']:6.3f} "
            f"{m['msgs_per_s']:9.0f} {m['median_ms']:7.3f} {m['p99_ms']:7.3f}"
        )
    for g in ("category", "obfuscation", "source"):
        print(f"-- {g} (recall; flag rate for benign sources)")
        for key in next(iter(results.values()))[g]:
            print(f"  {key:<22}" + "".join(f" {results[k][g].get(key, 0):6.3f}" for k in results))
    if "aidefence" in results and "ours" in results:
        o, x = results["ours"], results["aidefence"]
        for f in ("msgs_per_s", "precision", "recall", "fpr"):
            print(f"ratio ours/aidefence {f}: {o[f] / x[f]:.2f}" if x[f] else f"ratio {f}: n/a (aidefence 0)")


if __name__ == "__main__":
    main()
