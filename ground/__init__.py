"""The ground floor: grammar and time that every layer stands on.

Numerals, units, scopes, times and durations as people type them
(`ground.grammar`), and Asia/Shanghai time (`ground.timeutil`). Nothing here
imports gridbot's other packages: storage, messages, bot and the plugins all
build on it.
"""
