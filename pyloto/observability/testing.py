"""Test helpers: capture every log line exactly as the production handler would render it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from pyloto.observability.logging import build_formatter


class _ListHandler(logging.Handler):
    def __init__(self, lines: list[str], *, json: bool) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines = lines
        self.setFormatter(build_formatter(json=json))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def capture_rendered_logs(*, json: bool = True, level: int = logging.DEBUG) -> Iterator[list[str]]:
    """Collect the rendered lines of every logger (structlog and stdlib, any thread) in the block.

    The lines have gone through the same processors as production output — masking included — so
    a test can assert on what an operator would really read.
    """
    lines: list[str] = []
    handler = _ListHandler(lines, json=json)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, previous_level) if previous_level else level)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
