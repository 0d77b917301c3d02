"""``Periodic``: a daemon thread that runs one function every few seconds until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Periodic:
    """Calls ``fn`` every ``interval`` seconds; a failure is logged and the next round still runs."""

    def __init__(self, name: str, interval: float, fn: Callable[[], object]) -> None:
        self.name, self.interval, self.fn = name, interval, fn
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.fn()
            except Exception:  # noqa: BLE001 - monitoring must never stop the server
                logger.exception("%s failed", self.name)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
