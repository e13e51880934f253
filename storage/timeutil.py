"""Kept for existing imports: Asia/Shanghai time lives on the ground floor."""

from ground.timeutil import SHANGHAI, as_utc, fmt, local, local_now, utcnow

__all__ = ["SHANGHAI", "as_utc", "fmt", "local", "local_now", "utcnow"]
