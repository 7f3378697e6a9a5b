"""The exit statuses of the ``metalosc`` commands (the command line's docstring says which command
exits with which). The bundle statuses are ``sysexits.h``'s EX_DATAERR and EX_NOINPUT, so a
supervisor can tell "fix the models" from a crash (1)."""

from __future__ import annotations

import sys

if sys.version_info < (3, 11):  # pragma: no cover - the deployed interpreter is 3.11
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "EXIT_BUNDLE",
    "EXIT_BUNDLE_MISSING",
    "EXIT_CONFIG",
    "EXIT_DIFFERENT",
    "EXIT_FORCED",
    "EXIT_GRACE_EXPIRED",
    "EXIT_NO_ANSWER",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "exception_leaves",
]

EXIT_OK = 0
EXIT_NO_ANSWER = 1
EXIT_BUNDLE = 65
EXIT_BUNDLE_MISSING = 66
EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 3
EXIT_DIFFERENT = 4
EXIT_GRACE_EXPIRED = 70
EXIT_FORCED = 70


def exception_leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions inside ``group`` and the groups nested in it, in order."""
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        leaves.extend(exception_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return leaves
