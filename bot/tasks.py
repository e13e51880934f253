"""Background loops that retry on errors, and the stop that must still end them."""

from __future__ import annotations

import asyncio


def being_cancelled() -> bool:
    """Whether the running task has been asked to stop. A loop that retries on
    ``Exception`` checks it in its handler: clean-up on the way out of a cancel can
    raise an error of its own, which hides the cancel, and the loop would go on while
    its ``stop()`` waits for it for ever."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
