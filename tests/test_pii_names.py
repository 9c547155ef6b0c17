"""Behaviour of the offline person-name and street-address detectors (pii.engine.names / .addresses)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator

import pytest

from pii.engine import addresses, names
from pii.engine.addresses import find_street_addresses
from pii.engine.names import find_person_names
from pii.engine.types import Detection

Finder = Callable[[str], list[Detection]]


def found(finder: Finder, text: str) -> list[str]:
    return [text[d.start : d.end] for d in finder(text)]


@pytest.fixture(params=["hyperscan", "pure-python"])
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test with Hyperscan and with the pure-``re`` fallback; both must agree."""
    if request.param == "hyperscan" and names.hyperscan is None:
        pytest.skip("hyperscan is not installed")
    names._FORCE_PURE_PYTHON = request.param == "pure-python"
    names.clear_scan_cache()
    try:
        yield request.param
    finally:
        names._FORCE_PURE_PYTHON = False
        names.clear_scan_cache()


# --------------------------------------------------------------------------------------------------
# person_name
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # no title or context word needed
        ("Jennifer Umkhayev employs corporate lingo in her letter", ["Jennifer Umkhayev"]),
        ("Thomas Edison invented things.", ["Thomas Edison"]),
        ("Megan lives on the other side of town", ["Megan"]),
        # international names, accents, middle initials
        ("Szabina J Gelencsér lives there", ["Szabina J Gelencsér"]),
        ("Have you met Mohmad R. Vizirov?", ["Mohmad R. Vizirov"]),
        ("Lóa F Sigmundsdóttir called", ["Lóa F Sigmundsdóttir"]),
        ("I want to add Mercédesz Szôllôssy as a beneficiary", ["Mercédesz Szôllôssy"]),
        ("a tribute to Djevad Šušulić and friends", ["Djevad Šušulić"]),
        # hyphens, apostrophes, Mc-names, suffixes, particles, possessives
        ("signed by Jean-Pierre O'Brien", ["Jean-Pierre O'Brien"]),
        ("Anna-Maria McCray went home", ["Anna-Maria McCray"]),
        ("My great grandmother was called Giovanna Rodrigues MD", ["Giovanna Rodrigues MD"]),
        ("Ludwig van Beethoven wrote it", ["Ludwig van Beethoven"]),
        ("It was Franciska's kid", ["Franciska"]),
        # context makes unknown or ambiguous words names
        ("Hello, this is Mr. Dustin Wirth. Who are you?", ["Dustin Wirth"]),
        ("Mr. White flew to Oslo", ["White"]),
        ("Dear Koppány, thanks for the files", ["Koppány"]),
        ("my name is vitoria", ["vitoria"]),
        ("Sincerely,\nAnna Kowalski", ["Anna Kowalski"]),
        ("Éva: What a wife.\nMegan: Remember me?", ["Éva", "Megan"]),
        ("Name:    Kamila Červinková\nPhone: 451 5986", ["Kamila Červinková"]),
    ],
)
def test_names_found(engine: str, text: str, expected: list[str]) -> None:
    assert found(find_person_names, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # common words that are also names, sentence-initial words
        "Will you Mark the Page?",
        "Rice and Long Beach are places.",
        "Hope you can Grant me a Bill of sale.",
        "The Big Three Killed My Baby",
        "Hello World",
        "On Monday we ship.",
        "In Florence the weather was fine.",
        # code and logs
        "value = os.Path(root) / Megan()",
        "raise ValueError('bad') from HTTPResponse",
        '{"level": "INFO", "logger": "auth.Middleware", "msg": "Request completed"}',
        "class MyParser(BaseParser):\n    def parse(self) -> None:\n        return None",
        # organisations and streets named after people
        "Ratings by Kroll Bond Ratings Agency Inc",
        "The Davis Orchestra played.",
        "Meet at 743 Rachel Burgs tonight",
        "JSON Schema validation",
    ],
)
def test_names_hard_negatives(engine: str, text: str) -> None:
    assert found(find_person_names, text) == []


def test_names_held_out_words_still_found_by_shape() -> None:
    # Neither word is in the lists: accents, a surname ending and the middle initial carry it.
    lex = names.lexicon()
    assert "vizirov" not in lex
    assert found(find_person_names, "Ravil G Yefimov will be talking") == ["Ravil G Yefimov"]


def test_name_offsets_after_non_ascii_text(engine: str) -> None:
    text = "日本語のテキスト — “Ünïcødé” 😀 then Szabina Gelencsér and Jennifer Umkhayev wrote"
    dets = find_person_names(text)
    assert [text[d.start : d.end] for d in dets] == ["Szabina Gelencsér", "Jennifer Umkhayev"]
    assert dets[0].start == text.index("Szabina")


def test_name_detection_shape() -> None:
    text = "Thomas Edison met Jennifer Umkhayev and Mr. Dustin Wirth."
    dets = find_person_names(text)
    assert dets == sorted(dets, key=lambda d: d.start)
    for a, b in itertools.pairwise(dets):
        assert a.end <= b.start
    for d in dets:
        assert d.type == "person_name"
        assert 0.5 <= d.confidence <= 1.0
        assert d.detector.startswith("person_name.")
    # a lower floor only adds candidates
    assert len(find_person_names(text, min_confidence=0.2)) >= len(dets)


def test_name_confidence_orders_evidence() -> None:
    strong = find_person_names("Jennifer Umkhayev")[0].confidence
    single = find_person_names("Megan came")[0].confidence
    assert strong > single >= 0.5


# --------------------------------------------------------------------------------------------------
# street_address
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ship it to 7 Elm St, Springfield, IL 62704 please", ["7 Elm St, Springfield, IL 62704"]),
        (
            "send to 1600 Pennsylvania Avenue NW, Washington, DC 20500",
            ["1600 Pennsylvania Avenue NW, Washington, DC 20500"],
        ),
        ("10 Downing Street, London SW1A 2AA", ["10 Downing Street, London SW1A 2AA"]),
        ("Flat 3\n12 King Street\nLondon\nSW1A 1AA", ["Flat 3\n12 King Street\nLondon\nSW1A 1AA"]),
        ("Vestbane Allé 393\n6145 Videbæk", ["Vestbane Allé 393\n6145 Videbæk"]),
        ("Her address is Klášterecká 36", ["Klášterecká 36"]),
        ("Send to József attila utca 15.", ["József attila utca 15."]),
        ("boulevard de Guillaume\n52964 Payet-sur-Mer", ["boulevard de Guillaume\n52964 Payet-sur-Mer"]),
        ("Unit 13 7 Clayton Roadway\nRhondaberg, QLD, 1461", ["Unit 13 7 Clayton Roadway\nRhondaberg, QLD, 1461"]),
        ("Hauptstraße 5, 10115 Berlin", ["Hauptstraße 5, 10115 Berlin"]),
        ("12, rue de Rivoli\n75001 Paris", ["12, rue de Rivoli\n75001 Paris"]),
        ("Calle Mayor 3, 28013 Madrid", ["Calle Mayor 3, 28013 Madrid"]),
        ("Megan lives on Via Tasso 129 street.", ["Via Tasso 129"]),
        (
            "The address of Persint is 6750 Koskikatu 25 Apt. 864\nArtilleros\n, CO\n Uruguay 64677",
            ["6750 Koskikatu 25 Apt. 864\nArtilleros\n, CO\n Uruguay 64677"],
        ),
        (
            "Our offices are located at 971 Kesk 53\n Suite 343\n Pärnu\n Estonia",
            ["971 Kesk 53\n Suite 343\n Pärnu\n Estonia"],
        ),
        ("PSC 9009, Box 9725\nAPO AA 33274. It serves", ["PSC 9009, Box 9725\nAPO AA 33274"]),
        ("PO Box 1234, Springfield, IL 62704", ["PO Box 1234, Springfield, IL 62704"]),
        ("it is the corner of Dalbraut 99 and Frederikke Coves", ["the corner of Dalbraut 99 and Frederikke Coves"]),
        (
            "naomi ryan\n3747 3911 fourth avenue suite 112 calgary alberta",
            ["3747 3911 fourth avenue suite 112 calgary alberta"],
        ),
    ],
)
def test_addresses_found(engine: str, text: str, expected: list[str]) -> None:
    assert found(find_street_addresses, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "version 2 Street Fighter",
        "Here are 3 Main points to remember.",
        "in 2024 Park said no",
        "I bought 3 Main Street Journals",
        "meet at 10:30 PM Main Street entrance? no",
        "for i in range(10) Road = i",
        "It costs $100 per Day and 20 Euro per Hour.",
        "Python 3.11 Release Notes, chapter 2 Section 4",
        "Copyright (c) 2001-2026 Twisted Matrix Laboratories",
        "This installs via pip and runs via the command line.",
        '{"status": 200, "msg": "OK", "path": "/api/v1/orders/42"}',
    ],
)
def test_addresses_hard_negatives(engine: str, text: str) -> None:
    assert found(find_street_addresses, text) == []


def test_address_offsets_after_non_ascii_text(engine: str) -> None:
    text = "Привет 😀 “Grüße” — Jay Pearce lives at 67952 Höfðagata 39, Keflavíkurflugvöllur"
    dets = find_street_addresses(text)
    assert [text[d.start : d.end] for d in dets] == ["67952 Höfðagata 39, Keflavíkurflugvöllur"]
    assert dets[0].start == text.index("67952")


def test_address_detection_shape() -> None:
    text = "Ship to 7 Elm St, Springfield, IL 62704 or 12 King Street, London SW1A 1AA."
    dets = find_street_addresses(text)
    assert len(dets) == 2
    for a, b in itertools.pairwise(dets):
        assert a.end <= b.start
    for d in dets:
        assert d.type == "street_address"
        assert 0.5 <= d.confidence <= 1.0


def test_names_inside_addresses_are_not_names() -> None:
    text = "Please send it to 1737 Rachel Burgs\n Apt. 724\n Porto Alegre\n Brazil 68793"
    assert found(find_street_addresses, text) == ["1737 Rachel Burgs\n Apt. 724\n Porto Alegre\n Brazil 68793"]
    assert found(find_person_names, text) == []


# --------------------------------------------------------------------------------------------------
# robustness
# --------------------------------------------------------------------------------------------------


def test_empty_and_whitespace() -> None:
    for text in ("", " ", "\n\n", "\x00"):
        assert find_person_names(text) == []
        assert find_street_addresses(text) == []


def test_lone_surrogates_do_not_crash() -> None:
    text = "Jennifer Umkhayev \ud800 lives at 7 Elm St, Springfield, IL 62704"
    assert found(find_person_names, text) == ["Jennifer Umkhayev"]
    assert found(find_street_addresses, text) == ["7 Elm St, Springfield, IL 62704"]


def test_scan_cache_is_per_string() -> None:
    a = "Jennifer Umkhayev"
    b = "".join(["Thomas ", "Edison"])
    assert found(find_person_names, a) == ["Jennifer Umkhayev"]
    assert found(find_person_names, b) == ["Thomas Edison"]
    assert found(find_street_addresses, b) == []


def test_threads_share_nothing_mutable() -> None:
    text = "Jennifer Umkhayev lives at 7 Elm St, Springfield, IL 62704. " * 50
    expected = (find_person_names(text), find_street_addresses(text))
    results: list[tuple[list[Detection], list[Detection]]] = []

    def work() -> None:
        for _ in range(20):
            results.append((find_person_names(text), find_street_addresses(text)))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("unit", "times"),
    [
        ("A A ", 100_000),
        ("Anna Anna ", 40_000),
        ("1 Main ", 60_000),
        ("1 Main St, ", 40_000),
        ("Rue ", 100_000),
        ("Apt 1\n", 70_000),
        ("Koskikatu 25 ", 30_000),
        ("Šušulić ", 50_000),
        ("Mr. ", 100_000),
        ("the corner of ", 30_000),
        ("x", 1_000_000),
    ],
    ids=["A-A", "Anna", "1-Main", "1-Main-St", "Rue", "Apt", "katu", "unicode", "Mr", "corner", "one-word"],
)
def test_pathological_inputs_finish(unit: str, times: int) -> None:
    # ~0.4 MB of one repeated pattern each: bounded time (a work budget), no timing assertion.
    text = unit * times
    names.clear_scan_cache()
    find_person_names(text)
    find_street_addresses(text)


def test_data_lists_are_shipped() -> None:
    lex = names.lexicon()
    assert lex["megan"] & names.F_FIRST
    assert lex["umkhayev"] & names.F_LAST if "umkhayev" in lex else True
    assert lex["smith"] & names.F_LAST
    assert lex["will"] & names.F_COMMON
    assert "Avenue" in addresses.POST_TYPES
