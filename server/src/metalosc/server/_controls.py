"""The musical controls a game or a sound designer sets, written by the controller alone.

Every other piece of what ``/metal/state`` reports has one owner of its own: the tempo lives in
the :class:`~metalosc.server.BeatClock`, whether the transport runs in the
:class:`~metalosc.server.Transport`, the key, the sections, saved scenes and the scene being
morphed to in the :class:`~metalosc.server.Conductor`. The conductor and the generator read
these controls when they choose and decode phrases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from metalosc.protocol import INSTRUMENTS, Instrument, Transition

__all__ = ["Controls"]


@dataclass
class Controls:
    """``tension`` 0..1 (calm .. the most intense phrases the models know), sampling
    ``temperature`` (0.05..2), which instruments are muted, and where tension and temperature
    changes land by default (``transition``: the next phrase, bar or section)."""

    tension: float = 0.5
    temperature: float = 1.0
    muted: dict[Instrument, bool] = field(default_factory=lambda: dict.fromkeys(INSTRUMENTS, False))
    transition: Transition = "phrase"
