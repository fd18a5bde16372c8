"""Per-student variants of an assignment, deterministic and reproducible.

Each pool item gets a score ``HMAC-SHA256(key=seed, msg=assignment, student,
item key)``; a student's variant is the ``k`` items with the smallest scores,
in that order.  HMAC-SHA256 over UTF-8 bytes gives the same answer on every
run, machine and Python version (unlike :mod:`random` or ``hash()``), and
different students get independent, uniformly spread draws.  Knowing other
students' variants does not reveal the seed.

The item key is ``item.id`` when the item has one (questions, cases), the
string itself for strings, and the position in the pool otherwise, so
adding a question to a pool of questions changes each student's draw only
where the new question wins a place.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["draw_variant", "shuffle_for_student"]

T = TypeVar("T")
_SEP = "\x1f"  # ASCII unit separator: cannot be confused with text in names


def _as_bytes(value: object, name: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"{name} must be a str, int or bytes, got {type(value).__name__}")
    if isinstance(value, str) and not value:
        raise ValueError(f"{name} must not be empty")
    return str(value).encode("utf-8")


def _item_key(item: object, position: int) -> str:
    key = getattr(item, "id", None)
    if isinstance(key, str) and key:
        return "id:" + key
    if isinstance(item, str):
        return "str:" + item
    return f"pos:{position}"


def _ranked(student_id: str | int, assignment: str, seed: str | int | bytes,
            pool: Sequence[T]) -> list[T]:
    key = _as_bytes(seed, "seed")
    prefix = (_as_bytes(assignment, "assignment").decode("utf-8") + _SEP
              + _as_bytes(student_id, "student_id").decode("utf-8") + _SEP)
    if isinstance(pool, (str, bytes)) or not isinstance(pool, Sequence):
        raise TypeError(f"pool must be a sequence, got {type(pool).__name__}")
    keys = [_item_key(item, i) for i, item in enumerate(pool)]
    if len(set(keys)) != len(keys):
        raise ValueError("pool items must be distinct (by id, text or position)")
    scored = [(hmac.new(key, (prefix + k).encode("utf-8"), hashlib.sha256).digest(), i)
              for i, k in enumerate(keys)]
    scored.sort()
    return [pool[i] for _, i in scored]


def draw_variant(student_id: str | int, assignment: str, seed: str | int | bytes,
                 pool: Sequence[T], k: int) -> list[T]:
    """Draw ``k`` distinct items of ``pool`` for one student, reproducibly.

    Parameters
    ----------
    student_id : str or int
        The student's stable identifier (e.g. the nbgrader student id).
    assignment : str
        Name of the assignment; the same student gets independent draws in
        different assignments.
    seed : str, int or bytes
        The course secret; keep it out of what students can read.
    pool : sequence
        The items to draw from (questions, cases, strings...).
    k : int
        How many to draw, ``0 <= k <= len(pool)``.

    Returns
    -------
    list
        ``k`` items, in the order the student sees them.

    Examples
    --------
    >>> pool = ["q1", "q2", "q3", "q4"]
    >>> draw_variant("s001", "week1", "secret", pool, 2) == draw_variant("s001", "week1", "secret", pool, 2)
    True
    """
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if not 0 <= k <= len(pool):
        raise ValueError(f"k must be in 0..{len(pool)} (the pool size), got {k}")
    return _ranked(student_id, assignment, seed, pool)[:k]


def shuffle_for_student(student_id: str | int, assignment: str, seed: str | int | bytes,
                        items: Sequence[T]) -> list[T]:
    """Return all ``items`` in a per-student order (e.g. answer options)."""
    return _ranked(student_id, assignment, seed, items)
