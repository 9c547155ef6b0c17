"""Dev-set quality and speed of ``find_person_names`` and ``find_street_addresses``.

    python bench/pii_dev_eval.py [--dataset PATH] [--show-errors N] [--speed-mb 3]

Quality on the presidio-research synthetic set (1,500 sentences; MIT): PERSON → person_name,
STREET_ADDRESS → street_address, at the detectors' default threshold (confidence >= 0.5).

* exact: predicted span == gold span.
* overlap50: one-to-one matching where the overlap covers >= 50 % of the longer of the two spans.
* token: per non-space character, so a long address found partially counts partially.

The set often labels one address as several pieces (``'28030'``, ``'Edeby 55'``, ``'Apt. 297'``, GPE
``'TYSTBERGA'``…); the detector reports the whole address. So street_address is also scored against
"merged" gold: STREET_ADDRESS pieces joined with the adjacent STREET_ADDRESS / GPE / ZIP_CODE pieces
of the same address (only whitespace and commas between them).

Held-out gazetteer: a seeded random half of the name words that occur in the set is removed from the
name lists before scoring again, so recall on names the lists do not know is visible.

Speed: mixed "agent traffic" text (JSON log lines, prose from installed packages' READMEs, Python
standard-library source, about 2 % of bytes dev-set sentences), best of 3 runs.
"""

from __future__ import annotations

import argparse
import glob
import json
import random
import re
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

from pii.engine import addresses, names
from pii.engine.types import Detection

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT.parent / "shared" / "data" / "presidio-research" / "synth_dataset_v2.json"
Span = tuple[int, int]


def merged_addresses(row: dict) -> list[Span]:
    spans = sorted(
        (s["start_position"], s["end_position"], s["entity_type"])
        for s in row["spans"]
        if s["entity_type"] in ("STREET_ADDRESS", "GPE", "ZIP_CODE")
    )
    text = row["full_text"]
    groups: list[list] = []
    for start, end, kind in spans:
        if groups and re.fullmatch(r"[\s,>?]*", text[groups[-1][1] : start]):
            groups[-1][1] = max(groups[-1][1], end)
            groups[-1][2] |= kind == "STREET_ADDRESS"
        else:
            groups.append([start, end, kind == "STREET_ADDRESS"])
    return [(s, e) for s, e, has_street in groups if has_street]


def prf(tp: float, n_pred: float, n_gold: float) -> tuple[float, float, float]:
    p = tp / n_pred if n_pred else 1.0
    r = tp / n_gold if n_gold else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def overlap_matches(pred: list[Span], gold: list[Span]) -> int:
    used: set[int] = set()
    tp = 0
    for ps, pe in pred:
        for gi, (gs, ge) in enumerate(gold):
            if gi in used:
                continue
            inter = min(pe, ge) - max(ps, gs)
            if inter > 0 and inter >= 0.5 * max(pe - ps, ge - gs):
                used.add(gi)
                tp += 1
                break
    return tp


def chars(text: str, spans: list[Span]) -> set[int]:
    return {i for s, e in spans for i in range(s, e) if not text[i].isspace()}


class Score:
    def __init__(self) -> None:
        self.n_pred = self.n_gold = self.exact = self.overlap = 0
        self.c_pred = self.c_gold = self.c_tp = 0

    def add(self, text: str, pred: list[Span], gold: list[Span]) -> None:
        self.n_pred += len(pred)
        self.n_gold += len(gold)
        self.exact += len(set(pred) & set(gold))
        self.overlap += overlap_matches(pred, gold)
        cp, cg = chars(text, pred), chars(text, gold)
        self.c_pred += len(cp)
        self.c_gold += len(cg)
        self.c_tp += len(cp & cg)

    def lines(self, label: str) -> list[str]:
        out = []
        for name, (tp, npred, ngold) in (
            ("exact", (self.exact, self.n_pred, self.n_gold)),
            ("overlap50", (self.overlap, self.n_pred, self.n_gold)),
            ("token", (self.c_tp, self.c_pred, self.c_gold)),
        ):
            p, r, f = prf(tp, npred, ngold)
            out.append(f"{label:<34} {name:<10} P={p:.3f} R={r:.3f} F1={f:.3f}")
        return out


def evaluate(rows: list[dict], show: int = 0) -> dict[str, Score]:
    scores = {"person_name": Score(), "street_address (raw gold)": Score(), "street_address (merged gold)": Score()}
    shown = {"fp": 0, "fn": 0}
    for row in rows:
        text = row["full_text"]
        pn = [(d.start, d.end) for d in names.find_person_names(text)]
        sa = [(d.start, d.end) for d in addresses.find_street_addresses(text)]
        g_pn = [(s["start_position"], s["end_position"]) for s in row["spans"] if s["entity_type"] == "PERSON"]
        g_sa = [(s["start_position"], s["end_position"]) for s in row["spans"] if s["entity_type"] == "STREET_ADDRESS"]
        scores["person_name"].add(text, pn, g_pn)
        scores["street_address (raw gold)"].add(text, sa, g_sa)
        merged = merged_addresses(row)
        scores["street_address (merged gold)"].add(text, sa, merged)
        if show:
            for kind, pred, gold in (("PN", pn, g_pn), ("SA", sa, merged)):
                fps = [text[s:e] for s, e in pred if (s, e) not in gold]
                fns = [text[s:e] for s, e in gold if (s, e) not in pred]
                if (fps or fns) and shown["fp"] < show:
                    shown["fp"] += 1
                    print(f"--- {kind} {text[:160]!r}\n    pred-only {fps}\n    gold-only {fns}")
    return scores


def held_out_lexicon(rows: list[dict], seed: int = 1) -> set[str]:
    """Remove a random half of the dev set's name words from the lexicon; return the removed words."""
    words = sorted(
        {
            w.lower()
            for row in rows
            for s in row["spans"]
            if s["entity_type"] == "PERSON"
            for w in re.findall(r"[^\W\d_][\w'\u2019-]*", s["entity_value"])
        }
    )
    removed = set(random.Random(seed).sample(words, len(words) // 2))
    lex = names.lexicon()
    for w in removed:
        if w in lex:
            lex[w] &= ~(names.F_FIRST | names.F_LAST)
    names._reset_caches()
    return removed


# Faker-style held-out check: sentences written for this benchmark (not the dev set's templates), names
# and addresses from Faker's providers in 17 locales. Faker's name lists are part of the gazetteer, so
# person_name recall here is optimistic; street_address has no such overlap (no street lists are used).
FAKER_LOCALES = (
    *("en_US", "en_GB", "en_AU", "en_CA", "de_DE", "fr_FR", "it_IT", "es_ES", "pt_BR"),
    *("nl_NL", "pl_PL", "sv_SE", "fi_FI", "hu_HU", "cs_CZ", "da_DK", "no_NO"),
)
NAME_TEMPLATES = (
    "Please call {n} tomorrow morning.",
    "{n} approved the invoice.",
    "The report was written by {n}.",
    "Contact: {n}",
    "I spoke with {n} about the delay.",
    "Thanks, {n}",
    "Our new hire {n} starts Monday.",
    "Reviewer: {n}\nStatus: approved",
    "{n} will join the call at 3pm.",
    "ping {n} when the build is green",
    "Meeting notes (attendees: {n}, {m})",
    "Customer {n} reported the issue.",
)
ADDRESS_TEMPLATES = (
    "Ship the parcel to {a}.",
    "Her address is {a}",
    "Billing address:\n{a}",
    "We moved to {a} last year.",
    "Deliver to {a} before Friday.",
    "{a}",
    "The office is located at {a}.",
    "Send the contract to {a}, thanks.",
)


def faker_rows(n: int, seed: int = 3) -> list[tuple[str, list[tuple[int, int, str]]]]:
    from faker import Faker

    rnd = random.Random(seed)
    rows = []
    for _ in range(n):
        fake = Faker(rnd.choice(FAKER_LOCALES))
        fake.seed_instance(rnd.randrange(10**9))
        if rnd.random() < 0.5:
            first = fake.name() if rnd.random() < 0.5 else f"{fake.first_name()} {fake.last_name()}"
            second = f"{fake.first_name()} {fake.last_name()}"
            template = rnd.choice(NAME_TEMPLATES)
            text = template.replace("{n}", first).replace("{m}", second)
            spans = [(text.index(first), text.index(first) + len(first), "person_name")]
            if "{m}" in template:
                at = text.index(second, spans[0][1])
                spans.append((at, at + len(second), "person_name"))
        else:
            address = fake.address() if rnd.random() < 0.6 else fake.street_address()
            text = rnd.choice(ADDRESS_TEMPLATES).replace("{a}", address)
            spans = [(text.index(address), text.index(address) + len(address), "street_address")]
        rows.append((text, spans))
    return rows


def faker_check(n: int) -> None:
    rows = faker_rows(n)
    for type_, finder in (
        ("person_name", names.find_person_names),
        ("street_address", addresses.find_street_addresses),
    ):
        score = Score()
        for text, spans in rows:
            gold = [(s, e) for s, e, t in spans if t == type_]
            score.add(text, [(d.start, d.end) for d in finder(text)], gold)
        print("\n".join(score.lines(f"faker-style {type_} (n={score.n_gold})")))


def mixed_text(size: int, seed: int = 7, pii_share: float = 0.02, only: str = "") -> str:
    """~``size`` characters of agent traffic; ``only`` = "json", "prose" or "code" for one kind."""
    rnd = random.Random(seed)
    prose = []
    for path in sorted(glob.glob(str(ROOT / ".venv/lib/python3*/site-packages/*.dist-info/METADATA"))):
        body = Path(path).read_text(encoding="utf-8", errors="replace").partition("\n\n")[2]
        if len(body) > 500:
            prose.append(body)
    stdlib = sysconfig.get_paths()["stdlib"]
    code = [Path(p).read_text(encoding="utf-8", errors="replace") for p in sorted(glob.glob(stdlib + "/*.py"))]
    pii = [r["full_text"] for r in json.loads(DATASET.read_text(encoding="utf-8"))]
    msgs = ["Request completed", "Connection reset by peer", "Retrying upload", "Cache miss", "Task finished"]
    parts: list[str] = []
    total = pii_bytes = 0
    while total < size:
        if pii_bytes < pii_share * max(total, 1):
            chunk = rnd.choice(pii) + "\n"
            pii_bytes += len(chunk)
        else:
            r = {"json": 0.0, "prose": 0.5, "code": 0.9}.get(only, rnd.random())
            if r < 0.34:
                rec = {
                    "ts": f"2026-11-{rnd.randint(1, 28):02d}T{rnd.randint(0, 23):02d}:00:00Z",
                    "level": rnd.choice(["INFO", "DEBUG", "WARNING", "ERROR"]),
                    "logger": rnd.choice(["api.views", "worker.tasks", "db.pool", "auth.Middleware"]),
                    "msg": rnd.choice(msgs),
                    "request_id": f"{rnd.getrandbits(128):032x}",
                    "path": f"/api/v1/orders/{rnd.randint(1, 99999)}",
                    "status": rnd.choice([200, 201, 404, 500]),
                    "duration_ms": round(rnd.random() * 900, 2),
                }
                chunk = json.dumps(rec) + "\n"
            else:
                src = rnd.choice(prose if r < 0.67 else code)
                at = rnd.randrange(max(1, len(src) - 2000))
                chunk = src[at : at + 2000] + "\n"
        parts.append(chunk)
        total += len(chunk)
    return "".join(parts)


def both(text: str) -> list[Detection]:
    return names.find_person_names(text) + addresses.find_street_addresses(text)


def speed(label: str, fn: Callable[[str], list[Detection]], text: str, repeats: int = 5) -> float:
    size = len(text.encode("utf-8"))
    best = min(_timed(fn, text) for _ in range(repeats))
    rate = size / best / 1e6
    print(f"{label:<44} {rate:8.1f} MB/s  ({size / 1e6:.1f} MB, best of {repeats}, CPU time)")
    return rate


def _timed(fn: Callable[[str], list[Detection]], text: str) -> float:
    names.clear_scan_cache()  # each timed call pays for its own Hyperscan pass
    # CPU time of this process: the development machine is shared, wall-clock time is noisy there.
    started = time.process_time()
    fn(text)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--show-errors", type=int, default=0)
    parser.add_argument("--speed-mb", type=float, default=3.0)
    parser.add_argument("--no-heldout", action="store_true")
    parser.add_argument("--faker", type=int, default=400, help="Faker-style sentences to check (0: skip)")
    args = parser.parse_args()
    rows = json.loads(args.dataset.read_text(encoding="utf-8"))

    # Warm up (lists, compiled databases) outside the timings.
    names.find_person_names("Warm up, Megan.")
    addresses.find_street_addresses("1 Main Street")
    for label, score in evaluate(rows, args.show_errors).items():
        print("\n".join(score.lines(label)))

    if args.faker:
        faker_check(args.faker)

    if args.speed_mb:
        text = mixed_text(int(args.speed_mb * 1e6))
        clean = mixed_text(int(args.speed_mb * 1e6), pii_share=0.0)
        speed("find_person_names", names.find_person_names, text)
        speed("find_street_addresses", addresses.find_street_addresses, text)
        # What the Scanner pays: both on the same string, so one shared Hyperscan pass.
        speed("both on the same text", both, text)
        for kind in ("json", "prose", "code"):
            speed(f"both, {kind} only (2 % PII)", both, mixed_text(int(args.speed_mb * 1e6 / 3), only=kind))
        mb = len(clean.encode()) / 1e6
        pn = names.find_person_names(clean)
        sa = addresses.find_street_addresses(clean)
        print(f"on PII-free mixed text: {len(pn) / mb:.1f} person_name and {len(sa) / mb:.1f} street_address per MB")
        if args.show_errors:
            print("  e.g.", [clean[d.start : d.end] for d in pn[:30]])
            print("  e.g.", [clean[d.start : d.end] for d in sa[:30]])

    if not args.no_heldout:
        removed = held_out_lexicon(rows)
        held = Score()
        unknown = Score()
        for row in rows:
            text = row["full_text"]
            pn = [(d.start, d.end) for d in names.find_person_names(text)]
            gold = [(s["start_position"], s["end_position"]) for s in row["spans"] if s["entity_type"] == "PERSON"]
            held.add(text, pn, gold)
            gone = [
                g
                for g in gold
                if all(w.lower() in removed for w in re.findall(r"[^\W\d_][\w'\u2019-]*", text[g[0] : g[1]]))
            ]
            unknown.add(text, [p for p in pn if any(min(p[1], g[1]) > max(p[0], g[0]) for g in gone)], gone)
        print("\n".join(held.lines("person_name, half of names held out")))
        r_exact = unknown.exact / unknown.n_gold if unknown.n_gold else 0
        r_over = unknown.overlap / unknown.n_gold if unknown.n_gold else 0
        print(
            f"recall on the {unknown.n_gold} names whose every word was held out: "
            f"exact {r_exact:.3f}, overlap50 {r_over:.3f}"
        )


if __name__ == "__main__":
    main()
