from pathlib import Path

import pytest

from bench.defence_corpus import BIPIA_DIR, CATEGORIES, OBFUSCATIONS, generate, traffic_samples

if not (BIPIA_DIR / "text_attack_train.json").exists():
    pytest.skip("BIPIA data absent", allow_module_level=True)


@pytest.fixture(scope="module")
def dev():
    return generate("dev")


@pytest.fixture(scope="module")
def test():
    return generate("test")


def test_deterministic(dev):
    assert [(s.id, s.text) for s in generate("dev")] == [(s.id, s.text) for s in dev]


def test_labels_categories_obfuscations(dev, test):
    for samples in (dev, test):
        assert {s.label for s in samples} == {True, False}
        assert {s.category for s in samples if s.label} == set(CATEGORIES)
        assert {s.obfuscation for s in samples if s.obfuscation} == set(OBFUSCATIONS)
        assert all(s.category is None and s.obfuscation is None for s in samples if not s.label)
        assert all(s.category is not None for s in samples if s.label)
        assert len({s.id for s in samples}) == len(samples)


def test_own_attacks_disjoint(dev, test):
    d = {s.text for s in dev if s.source == "own-attack"}
    t = {s.text for s in test if s.source == "own-attack"}
    assert d and t and not d & t


def test_traffic_size():
    msgs = traffic_samples(0.05)
    assert len(msgs) >= 50 and all(900 <= len(m) <= 1024 for m in msgs)


def test_data_path_is_local():
    assert isinstance(BIPIA_DIR, Path)
