"""caselib.cases.variants: reproducible, spread-out per-student draws."""
from __future__ import annotations

import collections
import hashlib
import hmac
import subprocess
import sys

import pytest

from caselib.cases import SingleChoice, Text, draw_variant, shuffle_for_student

POOL = [f"q{i:02d}" for i in range(10)]


def test_pinned_values_stay_the_same_across_versions() -> None:
    # pinned once: a change here breaks every course's published variants
    assert draw_variant("2026001", "week-01", "course-secret", POOL, 3) == ["q07", "q03", "q06"]
    assert draw_variant("2026002", "week-01", "course-secret", POOL, 3) == ["q00", "q06", "q01"]
    assert draw_variant("学生甲", "week-01", b"\x00\x01", POOL, 4) == ["q04", "q01", "q07", "q06"]


def test_algorithm_is_the_documented_hmac() -> None:
    def score(item: str) -> bytes:
        msg = "week-01\x1f2026001\x1fstr:" + item
        return hmac.new(b"course-secret", msg.encode(), hashlib.sha256).digest()

    assert draw_variant("2026001", "week-01", "course-secret", POOL, 10) == sorted(POOL, key=score)


def test_reproducible_in_a_fresh_interpreter_with_hash_randomisation() -> None:
    code = ("from caselib.cases import draw_variant; "
            "print(draw_variant('s1', 'a', 'k', [f'q{i}' for i in range(20)], 5))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout
            for seed in ("0", "1", "12345")}
    assert len(outs) == 1
    assert outs.pop().strip() == str(draw_variant("s1", "a", "k", [f"q{i}" for i in range(20)], 5))


def test_independent_of_global_random_state() -> None:
    import random

    random.seed(1)
    a = draw_variant("s", "a", "k", POOL, 5)
    random.seed(2)
    random.random()
    assert draw_variant("s", "a", "k", POOL, 5) == a


def test_spread_across_students() -> None:
    draws = [tuple(draw_variant(f"s{i:04d}", "week-01", "secret", POOL, 3)) for i in range(600)]
    assert all(len(set(d)) == 3 for d in draws)
    assert len(set(draws)) > 400                       # 720 ordered triples possible
    counts = collections.Counter(q for d in draws for q in d)
    assert set(counts) == set(POOL)
    assert all(120 <= c <= 240 for c in counts.values()), counts   # expected 180 each
    firsts = collections.Counter(d[0] for d in draws)
    assert all(25 <= c <= 100 for c in firsts.values()), firsts    # expected 60 each


def test_assignment_and_seed_change_the_draw() -> None:
    base = [draw_variant(f"s{i}", "week-01", "secret", POOL, 4) for i in range(50)]
    other_assignment = [draw_variant(f"s{i}", "week-02", "secret", POOL, 4) for i in range(50)]
    other_seed = [draw_variant(f"s{i}", "week-01", "secret2", POOL, 4) for i in range(50)]
    assert sum(a != b for a, b in zip(base, other_assignment)) > 40
    assert sum(a != b for a, b in zip(base, other_seed)) > 40


def test_questions_are_keyed_by_id_so_adding_one_keeps_draws_stable() -> None:
    P = Text(zh="题", en="Q")
    opts = (Text(zh="甲", en="a"), Text(zh="乙", en="b"))
    qs = [SingleChoice(id=f"q{i}", prompt=P, options=opts, answer=0) for i in range(8)]
    full = draw_variant("s1", "a", "k", qs, 8)
    bigger = draw_variant("s1", "a", "k", [*qs, SingleChoice(id="new", prompt=P, options=opts,
                                                             answer=0)], 9)
    assert [q.id for q in bigger if q.id != "new"] == [q.id for q in full]


def test_edge_cases_and_errors() -> None:
    assert draw_variant("s", "a", "k", POOL, 0) == []
    assert sorted(draw_variant("s", "a", "k", POOL, 10)) == POOL
    assert draw_variant("s", "a", "k", [], 0) == []
    assert draw_variant(42, "a", 7, POOL, 2) == draw_variant("42", "a", "7", POOL, 2)
    with pytest.raises(ValueError, match=r"k must be in 0..10 \(the pool size\), got 11"):
        draw_variant("s", "a", "k", POOL, 11)
    with pytest.raises(TypeError, match="k must be an int, got float"):
        draw_variant("s", "a", "k", POOL, 2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seed must be a str, int or bytes, got NoneType"):
        draw_variant("s", "a", None, POOL, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="student_id must not be empty"):
        draw_variant("", "a", "k", POOL, 2)
    with pytest.raises(ValueError, match="pool items must be distinct"):
        draw_variant("s", "a", "k", ["x", "x"], 1)
    with pytest.raises(TypeError, match="pool must be a sequence, got str"):
        draw_variant("s", "a", "k", "abc", 1)  # type: ignore[arg-type]


def test_shuffle_for_student_is_a_permutation() -> None:
    items = [object() for _ in range(5)]
    out = shuffle_for_student("s", "a", "k", items)
    assert sorted(map(id, out)) == sorted(map(id, items))
    assert shuffle_for_student("s", "a", "k", items) == out
