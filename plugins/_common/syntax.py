"""Argument shapes several plugins' grammars share. Pure data; no parsing here.

A plugin names them after its own subcommands (``ListDuties = Listing``,
``StopDuty = Numbered``): within one grammar each shape stands for one subcommand.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Listing:
    """``列表``: what is open or active, no arguments."""


@dataclass(frozen=True)
class Numbered:
    """A subcommand on one item by its 编号: ``停止 3``, ``解除 #2``, ``取消 1``."""

    number: int
