"""General MIDI as the band uses it: which programs are guitars and basses, which ones it plays.

Program numbers are 0-based, as pretty_midi and note_seq number them (GM's "30 Distortion
Guitar" is program 30 here, patch 31 in the GM table).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from metalosc.protocol import Instrument

__all__ = ["BASS_PROGRAMS", "DRUM_CHANNEL", "GUITAR_PROGRAMS", "PROGRAMS"]

GUITAR_PROGRAMS = range(24, 32)
"""GM's guitar family: nylon, steel, jazz, clean, muted, overdriven, distortion, harmonics."""
BASS_PROGRAMS = range(32, 40)
"""GM's bass family: acoustic, finger, pick, fretless, slap 1-2, synth 1-2."""
PROGRAMS: Mapping[Instrument, int] = MappingProxyType({"guitar": 30, "bass": 33, "drums": 0})
"""What each instrument of the band plays: Distortion Guitar, Electric Bass (finger), and the
standard kit on the drum channel."""
DRUM_CHANNEL = 9
"""The GM percussion channel (channel 10 counted from 1)."""
