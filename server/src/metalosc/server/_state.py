"""The musical state the control messages change, and the scenes saved from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from metalosc.protocol import INSTRUMENTS, Instrument, State
from metalosc.runtime import ZVector

__all__ = ["MusicState", "Scene"]

Scene = Mapping[Instrument, ZVector]


@dataclass
class MusicState:
    """Everything ``/metal/state`` reports, plus the saved scenes (name → z per instrument)."""

    playing: bool = False
    tension: float = 0.5
    bpm: float = 120.0
    temperature: float = 1.0
    muted: dict[Instrument, bool] = field(default_factory=lambda: dict.fromkeys(INSTRUMENTS, False))
    scene: str = ""  # the scene being interpolated to, "" when none
    scenes: dict[str, Scene] = field(default_factory=dict)

    def to_message(self) -> State:
        return State(
            playing=self.playing,
            tension=self.tension,
            bpm=self.bpm,
            temperature=self.temperature,
            guitar_muted=self.muted["guitar"],
            bass_muted=self.muted["bass"],
            drums_muted=self.muted["drums"],
            scene=self.scene,
        )
