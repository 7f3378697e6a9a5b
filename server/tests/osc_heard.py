"""What a subscriber heard, per 2-bar slot: shared by the control and the wire suites.

Slot ``k`` starts at beat ``8 k``; its ``/metal/phrase`` events ride in the bundle of that beat,
its notes name their beat, so a slot can be rebuilt from the bundles alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from metalosc.protocol import INSTRUMENTS, Beat, Bundle, Instrument, Note, PhraseStarted

SLOT_BEATS = 8


@dataclass
class SlotHeard:
    """The tension a slot's phrases were chosen for, their ids, and each instrument's notes."""

    tension: float
    ids: dict[Instrument, int] = field(default_factory=dict)
    notes: dict[Instrument, int] = field(default_factory=lambda: dict.fromkeys(INSTRUMENTS, 0))


def slots_heard(bundles: Iterable[Bundle]) -> dict[int, SlotHeard]:
    """The slots whose phrase starts are among ``bundles`` (notes of other slots are ignored)."""
    slots: dict[int, SlotHeard] = {}
    notes: dict[int, dict[Instrument, int]] = {}
    for bundle in bundles:
        beats = [m for m in bundle.messages if isinstance(m, Beat)]
        for message in bundle.messages:
            if isinstance(message, PhraseStarted):
                (beat,) = beats  # phrase starts ride on the slot's first beat
                index = (beat.bar * 4 + beat.beat) // SLOT_BEATS
                slot = slots.setdefault(index, SlotHeard(message.tension))
                slot.ids[message.instrument] = message.id
            elif isinstance(message, Note):
                per_slot = notes.setdefault(
                    int(message.beat // SLOT_BEATS), dict.fromkeys(INSTRUMENTS, 0)
                )
                per_slot[message.instrument] += 1
    for index, slot in slots.items():
        slot.notes = notes.get(index, slot.notes)
    return slots
