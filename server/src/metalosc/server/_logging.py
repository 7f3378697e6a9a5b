"""structlog set-up, done once in ``main`` (and once in each model worker process): console on a
TTY, JSON lines otherwise (journald, containers).

Third-party libraries speak through it too, so nothing reaches the console raw: Python warnings
(``warnings.warn``: TensorFlow's "``tf.layers.dense`` is deprecated", pydub's missing ffmpeg) become
one ``third_party_warning`` event each, and standard ``logging`` records (TensorFlow's Python
logger, absl) ``third_party_log`` events. Each distinct warning is logged once per process, at
debug level when it is about the library's own insides (deprecations, an audio tool the daemon
never uses) and at warning level otherwise.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Literal, TextIO

import structlog

__all__ = ["configure_logging", "third_party_level"]

log = structlog.get_logger("metalosc.third_party")

_DEPRECATION_CATEGORIES = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
IRRELEVANT_WARNINGS = (("pydub", "Couldn't find ffmpeg"),)
"""(module path part, message start) of warnings about things the daemon never does: pydub
(imported by note_seq) looks for ffmpeg to convert audio; the daemon only handles notes."""
_SEEN_MAX = 1024  # distinct warnings remembered per process (a bound, not a budget)


def third_party_level(message: str, category: type[Warning] | None, source: str) -> int:
    """The ``logging`` level a third-party warning deserves: ``DEBUG`` for deprecations (by
    category or by saying "deprecated") and the :data:`IRRELEVANT_WARNINGS`, else ``WARNING``.
    ``source`` is the file or logger that raised it."""
    if category is not None and issubclass(category, _DEPRECATION_CATEGORIES):
        return logging.DEBUG
    if "deprecated" in message.lower():
        return logging.DEBUG
    if any(part in source and message.startswith(start) for part, start in IRRELEVANT_WARNINGS):
        return logging.DEBUG
    return logging.WARNING


class _Once:
    """Remembers what was logged, so each distinct warning is logged once per process."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def first(self, key: tuple[str, str]) -> bool:
        if key in self.seen:
            return False
        if len(self.seen) < _SEEN_MAX:
            self.seen.add(key)
        return True


_once = _Once()


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    text = str(message)
    if not _once.first((category.__name__, text)):
        return
    log.log(
        third_party_level(text, category, filename),
        "third_party_warning",
        category=category.__name__,
        message=text,
        source=f"{filename}:{lineno}",
    )


class _StructlogHandler(logging.Handler):
    """Standard ``logging`` records as ``third_party_log`` events: a library's info is the
    daemon's debug (its own events tell the story at info), warnings as they deserve, errors as
    they are; warnings and below once."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a library's malformed format string must not take the daemon down
            text = str(record.msg)
        level = record.levelno
        if level <= logging.WARNING:
            if not _once.first((record.name, text)):
                return
            if level == logging.WARNING:
                level = third_party_level(text, None, record.name)
            else:
                level = logging.DEBUG
        log.log(level, "third_party_log", logger=record.name, message=text)


def configure_logging(
    fmt: Literal["auto", "console", "json"] = "auto",
    level: str = "info",
    stream: TextIO | None = None,
) -> None:
    """Configure structlog once for the process: ``fmt`` ``auto`` renders for people on a TTY and
    JSON lines otherwise (journald, containers); events below ``level`` are dropped; ``stream``
    defaults to stderr. Python warnings and standard ``logging`` records are routed through it
    (module docstring)."""
    out = stream if stream is not None else sys.stderr
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    )
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if not console:
        processors.append(structlog.processors.format_exc_info)
    processors.append(renderer)
    threshold = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
    warnings.showwarning = _show_warning
    root = logging.getLogger()
    # Replacing the root's handlers also keeps TensorFlow from adding its own console handler
    # (it does only when the root logger has none).
    root.handlers[:] = [_StructlogHandler()]
    # Libraries' info becomes debug: below debug, records are not even made.
    root.setLevel(logging.DEBUG if threshold <= logging.DEBUG else logging.WARNING)
