"""Kept for the plugins' imports: the grammar lives on the ground floor."""

from ground.grammar import *  # noqa: F403
from ground.grammar import __all__  # noqa: F401
