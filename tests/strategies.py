"""Hypothesis strategies and settings shared by the command grammar tests."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

# The parsers' property tests: many examples, no per-example deadline (a loaded
# 2-core machine must not turn a slow example into a failure).
FUZZ = settings(max_examples=400, deadline=None)


def near_misses(vocabulary: list[str], max_words: int = 6) -> st.SearchStrategy[str]:
    """Up to ``max_words`` words of a command's vocabulary joined by spaces: texts
    close to valid arguments, and mostly not quite."""
    return st.lists(st.sampled_from(vocabulary), max_size=max_words).map(" ".join)
