"""Background tasks that belong to one owner (a plugin, an automation)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any


class OwnedTasks:
    """Spawned tasks are kept until done; a failure is logged (never lost silently), and the
    owner cancels them all together when it stops."""

    def __init__(self, log: logging.Logger, label: str) -> None:
        self._log = log
        self._label = label
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Awaitable[Any], name: str | None = None) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        if name:
            task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("%s %s failed", self._label, task.get_name(),
                            exc_info=task.exception())

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)
