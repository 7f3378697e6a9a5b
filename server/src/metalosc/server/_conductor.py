"""The musical decisions, pure and testable: musical form, bar by bar.

The transport asks :meth:`Conductor.next_bar` what plays in each bar. The conductor plays in
**sections** (default 8 bars = 4 two-bar phrases):

* the guitar states a **riff** and repeats it by the section's pattern (``AABA``, ``AABa`` …):
  an upper-case letter is a riff picked from the buffer (a repeat plays the very same phrase), a
  lower-case one a *variation*, decoded from a latent near its riff's (MusicVAE's latent
  neighbourhood: the same riff bent, not a new one); the bass plays the candidate decoded on the
  riff's chords that sounds with the guitar on beats 1 and 3 most often;
* the drums hold one **groove** through the section and play a **fill** in its last 2 bars —
  the groove's first bar, then a fill bar decoded from the groove's latent moved along the drums
  bundle's fill attribute vector (``/metal/fill`` plays a whole fill phrase at once);
* every phrase is in the section's **key**: guitar phrases were moved into a key when decoded,
  and are moved again here when the session key changed since; the key changes only where a
  section starts.

A new section starts when the last one ends, when a game asks for one (``/metal/section``), or
when the tension (or temperature) moved by at least ``tension_step`` from what the section was
planned for — at the boundary the change asked for: the next phrase, the next bar (the phrase in
flight is cut after its first bar, so "the enemy appears" is heard within one bar), or the next
section. ``/metal/fill`` puts a fill at the next phrase.

A **morph** to a saved scene (``/metal/interpolate``) plays a spherical path from the latents
playing now to the scene's, one point per phrase; the generator decodes the whole path ahead of
time (``Interpolation.decoded``); if it is not ready at the next boundary the morph waits one
phrase, then the nearest buffered phrases stand in (counted). Once the morph arrives, a section
starts *on* the scene — its riff the scene's guitar, its groove the scene's drums — and the music
stays there, section after section, until the tension, a section request or another morph moves
it on.

Variations and fills must be decoded too, so planning a section creates a :class:`SectionOrder`
that the generator decodes in the background; whatever is not decoded when it is due is played
from what is (the riff itself, the nearest buffered drum phrase) and counted.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from metalosc.protocol import INSTRUMENTS, KEY_NAMES, Instrument, Transition
from metalosc.runtime import (
    CHORD_FIT,
    KEY_FIT,
    PHRASE_BARS,
    PHRASE_BEATS,
    Phrase,
    ZVector,
    groove_similarity,
    slerp,
    transposed,
)

from ._buffer import PhraseBuffer
from ._controls import Controls

__all__ = [
    "AGREEMENT",
    "BarPlan",
    "Conductor",
    "ConductorError",
    "FormRules",
    "Interpolation",
    "PhraseSet",
    "Scene",
    "Section",
    "SectionOrder",
    "best_fitting",
]

AGREEMENT = "agreement"
"""Feature of a bass phrase: the share of its notes on beats 1 and 3 whose pitch class its guitar
phrase sounds within that beat (:func:`metalosc.runtime.guitar_bass_agreement`)."""

_URGENCY: Mapping[Transition, int] = {"bar": 0, "phrase": 1, "section": 2}


class ConductorError(Exception):
    """A request the music cannot honour right now (unknown scene, nothing played yet)."""


def best_fitting(candidates: Sequence[Phrase], key_fit: float = 0.95) -> tuple[Phrase, ...]:
    """The bass candidates that sound best with their guitar phrase (ties all kept): among those
    with at least ``key_fit`` of their notes in the guitar's key (else those with at most twice
    the notes outside it, else all), the most strong-beat notes the guitar sounds too
    (``agreement``), then the best strong-beat fit to the guitar's chords (``chord_fit``).

    Harmony comes before tension for the bass: a bass that plays against the guitar sounds wrong
    at any tension, and the candidates were all sampled near the tension already. Candidates
    without a measure (none decoded on chords) are all kept.
    """
    if not candidates:
        return ()
    measured = [(p.features.get(AGREEMENT), p.features.get(CHORD_FIT)) for p in candidates]
    if any(agree is None and fit is None for agree, fit in measured):
        return tuple(candidates)
    fits = [p.features.get(KEY_FIT, 1.0) for p in candidates]
    pool = (
        [i for i, fit in enumerate(fits) if fit >= key_fit]
        or [i for i, fit in enumerate(fits) if fit >= 2.0 * key_fit - 1.0]
        or list(range(len(candidates)))
    )
    ranked = {i: (measured[i][0] or 0.0, measured[i][1] or 0.0) for i in pool}
    best = max(ranked.values())
    return tuple(candidates[i] for i, r in ranked.items() if r == best)


@dataclass(frozen=True, eq=False)
class Scene:
    """A saved moment: the latents (``[z_size]`` float64) of the riff, its bass and the groove
    that were playing, and the ``key`` (pitch class) they played in."""

    guitar: ZVector
    bass: ZVector
    drums: ZVector
    key: int

    def __getitem__(self, instrument: Instrument) -> ZVector:
        """The latent of ``instrument``."""
        latents: dict[Instrument, ZVector] = {
            "guitar": self.guitar,
            "bass": self.bass,
            "drums": self.drums,
        }
        return latents[instrument]


@dataclass(frozen=True, eq=False)
class _Held:
    """The scene a morph arrived at, as phrases: what every section plays until moved on."""

    name: str
    guitar: Phrase
    bass: Phrase
    drums: Phrase
    key: int


@dataclass(frozen=True)
class FormRules:
    """How the conductor builds sections.

    ``section_phrases``: 2-bar phrases per section (2, 4 or 8 for 4, 8 or 16 bars);
    ``patterns``: the guitar's riff pattern for calm (tension < 1/3), middling and intense
    sections, cycled over the section's phrases (alternatives separated by ``/`` take turns,
    section by section: the corpus repeats a riff in about 43% of its 2-bar windows, and a
    4-phrase pattern repeats in 0, 25, 50 or 75%); ``tension_step``: how far the tension (or
    temperature) must move from what a section was planned for to start a new one;
    ``variation``: how far a variation's latent moves from its riff's towards a fresh prior sample
    (slerp, 0..1); ``fill_push``: how far a calm fill's latent moves from its groove's along the
    fill vector, in lengths of the vector (:meth:`fill_length`); ``groove_sections``: how many
    sections a groove is kept for while the tension holds, for calm, middling and intense
    sections (intense music changes its groove more often); ``groove_overlap``: the share of hits
    a new groove should keep from the one before (:func:`metalosc.runtime.groove_similarity`)
    when the buffer has one that does, else half that share — the drummer moves on without
    starting over; ``key_fit``: the share of a riff's notes that must be in the key's scale for it
    to be preferred (else a riff with at most twice the notes outside the scale), among all the
    buffered phrases; a new groove is chosen among those that follow the tension
    (``PhraseBuffer.pick``).

    The defaults put all four form measures of ``metalosc-train form`` inside the interquartile
    range of the Freedoom songs at tensions 0.2, 0.5 and 0.9 (models/default/README.md).
    """

    section_phrases: int = 4
    patterns: tuple[str, str, str] = ("AABA/AABa", "AABa/AABA", "AAAB/AABa")
    tension_step: float = 0.1
    variation: float = 0.3
    fill_push: float = 1.0
    groove_sections: tuple[int, int, int] = (3, 3, 1)
    groove_overlap: float = 0.4
    key_fit: float = 0.95

    def __post_init__(self) -> None:
        if self.section_phrases < 1:
            raise ValueError(f"a section needs at least one phrase, got {self.section_phrases}")
        for patterns in self.patterns:
            for pattern in patterns.split("/"):
                if not pattern or not pattern.isalpha() or pattern[0] != "A":
                    raise ValueError(
                        f"a riff pattern is letters starting with 'A', got {pattern!r}"
                    )

    def fill_length(self, tension: float) -> float:
        """How far a fill's latent moves from its groove's, in lengths of the fill vector: from
        ``fill_push`` when calm to twice that at tension 1 — intense sections fill harder."""
        return self.fill_push * (1.0 + tension)

    @staticmethod
    def band(tension: float) -> int:
        """0 (calm, tension < 1/3), 1 (middling) or 2 (intense, tension >= 2/3)."""
        return 0 if tension < 1 / 3 else 1 if tension < 2 / 3 else 2

    def pattern(self, tension: float, section: int = 0) -> str:
        """The riff pattern for the ``section``-th section, planned at ``tension``: the band's
        alternatives (``"AABA/AABa"``) in turn."""
        alternatives = self.patterns[self.band(tension)].split("/")
        return alternatives[section % len(alternatives)]


@dataclass(frozen=True, eq=False)
class PhraseSet:
    """What plays in one 2-bar phrase: a phrase per instrument (in the section's key), the
    tension (0..1) it was chosen for, and ``index``, counting phrases since play started."""

    index: int
    phrases: Mapping[Instrument, Phrase]
    tension: float


@dataclass(eq=False)
class SectionOrder:
    """Latents a section needs decoded ahead of time: guitar variations (``[n, z_size]``, each
    with bass candidates) and the drum fill (``[1, z_size]`` or none), both moved into ``key``.
    The generator fills ``guitar`` / ``drums`` with the decoded phrases."""

    key: int
    variation_z: ZVector | None
    fill_z: ZVector | None
    guitar: list[Phrase] | None = None
    drums: list[Phrase] | None = None
    id: int = field(default_factory=itertools.count(1).__next__)


@dataclass(eq=False)
class Section:
    """One section: ``index`` (since play started), ``label``, ``key`` (pitch class), the tension
    and temperature it was planned for, its riff ``pattern``, its first bar, its length in
    phrases, the riffs by letter (guitar phrases in the key, each with the bass chosen for it),
    the drums' ``groove``, and the ``order`` for what must still be decoded."""

    index: int
    label: str
    key: int
    tension: float
    temperature: float
    pattern: str
    start_bar: int
    phrases: int
    riffs: dict[str, Phrase]
    groove: Phrase
    order: SectionOrder
    played: int = 0

    @property
    def key_name(self) -> str:
        """The key's name as the daemon reports it."""
        return KEY_NAMES[self.key]

    def letter(self, slot: int) -> str:
        """The pattern letter of the section's ``slot``-th phrase."""
        return self.pattern[slot % len(self.pattern)]


@dataclass(frozen=True, eq=False)
class BarPlan:
    """What plays in ``bar`` (bars since play started): the ``phrases`` and which of their two
    bars (``half``: 0 or 1); ``phrase_start`` when a phrase starts here (``phrase_set`` then says
    which), ``section`` when a section starts here."""

    bar: int
    phrases: Mapping[Instrument, Phrase]
    half: int
    tension: float
    phrase_start: bool
    phrase_set: PhraseSet | None = None
    section: Section | None = None


@dataclass(eq=False)
class Interpolation:
    """A planned morph to ``scene``: one latent per instrument per phrase (``points``), ending on
    the scene; ``decoded`` holds the phrases once the generator has decoded the path, and
    ``stand_ins`` counts points played by the nearest buffered phrase instead."""

    scene: str
    points: list[dict[Instrument, ZVector]]
    key: int
    decoded: list[dict[Instrument, Phrase]] | None = None
    position: int = 0
    grace: int = 1  # phrases the morph may wait for its decode before using stand-ins
    stand_ins: int = 0
    id: int = field(default_factory=itertools.count(1).__next__)

    @property
    def done(self) -> bool:
        """Whether every point of the path has been played."""
        return self.position >= len(self.points)


class Conductor:
    """Chooses what plays, bar by bar, from the ``buffers`` for the ``controls``, by the form
    ``rules``; owns the sections, the saved scenes (``scenes``) and the morph in progress.

    ``key`` is the session's tonal centre at start (pitch class, 0 = C; E minor by default);
    ``fill_vector`` (``[z_size]``, the drums bundle's fill attribute; zeros or ``None`` when it
    has none) and ``rng`` (variation latents) are the only other inputs: it is pure otherwise.
    """

    def __init__(
        self,
        buffers: Mapping[Instrument, PhraseBuffer],
        controls: Controls,
        rules: FormRules | None = None,
        *,
        key: int = 4,
        fill_vector: ZVector | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.buffers = buffers
        self.controls = controls
        self.rules = rules or FormRules()
        self.fill_vector = fill_vector
        self.rng = rng or np.random.default_rng()
        self.scenes: dict[str, Scene] = {}
        self.current: dict[Instrument, Phrase] = {}
        self.interpolation: Interpolation | None = None
        self.section: Section | None = None
        self.orders: list[SectionOrder | Interpolation] = []
        """Decodes the generator should run, oldest first (taken by :meth:`take_orders`)."""
        self.stand_ins = 0
        """Variations and fills played from what was at hand because their decode was late."""
        self._sections = itertools.count()
        self._phrases = itertools.count()
        self._held: _Held | None = None
        self._key = key
        self._requested_key: int | None = None
        self._slot = 0
        self._half = 1
        self._set: PhraseSet | None = None
        self._pending_change: Transition | None = None
        self._pending_label: str | None = None
        self._pending_fill = False
        self._groove_age = 0

    # -- requests ---------------------------------------------------------------------------

    @property
    def scene_target(self) -> str:
        """The scene being morphed to, ``""`` when none."""
        return self.interpolation.scene if self.interpolation is not None else ""

    @property
    def key(self) -> int:
        """The session key playing (pitch class): the current section's."""
        return self._key

    @property
    def target_key(self) -> int:
        """The key the next section will be in (the requested one, else the current): what new
        phrases are decoded for."""
        return self._key if self._requested_key is None else self._requested_key

    def request_key(self, key: int) -> None:
        """Move to ``key`` (pitch class) where the next section starts, never mid-section."""
        self._requested_key = key % 12

    def change(self, transition: Transition) -> None:
        """The tension or temperature changed: re-plan at the next ``transition`` boundary if
        it moved by at least the rules' step (the most urgent pending boundary wins)."""
        pending = self._pending_change
        if pending is None or _URGENCY[transition] < _URGENCY[pending]:
            self._pending_change = transition

    def request_section(self, label: str = "") -> None:
        """Start a new section at the next phrase, labelled ``label`` ("" = the daemon's)."""
        self._pending_label = label

    def request_fill(self) -> None:
        """Play a drum fill at the next phrase."""
        self._pending_fill = True

    def take_orders(self) -> list[SectionOrder | Interpolation]:
        """The decodes planned since the last call, oldest first."""
        orders, self.orders = self.orders, []
        return orders

    # -- scenes and morphs ------------------------------------------------------------------

    def save_scene(self, name: str) -> None:
        """Remember the section playing now — its riff, the riff's bass, its groove, its key —
        under ``name``. Raises ``ConductorError`` before anything has played."""
        section = self.section
        if section is None or set(self.current) != set(INSTRUMENTS):
            raise ConductorError("nothing has played yet, so there is no scene to save")
        riff = section.riffs["A"]
        bass = self._bass_of(riff)
        self.scenes[name] = Scene(
            riff.z.copy(), bass.z.copy(), section.groove.z.copy(), section.key
        )

    def delete_scene(self, name: str) -> None:
        """Forget the scene ``name`` (a morph already heading there goes on). Raises
        ``ConductorError`` for an unknown scene."""
        if self.scenes.pop(name, None) is None:
            known = ", ".join(sorted(self.scenes)) or "none saved yet"
            raise ConductorError(f"unknown scene {name!r} (known: {known})")

    def plan_interpolation(self, scene: str, bars: int) -> Interpolation:
        """Start morphing to ``scene`` over ``bars`` bars (even) from the next phrase on.

        Raises ``ConductorError`` for an unknown scene, an odd or too short length, or before
        anything has played."""
        target = self.scenes.get(scene)
        if target is None:
            known = ", ".join(sorted(self.scenes)) or "none saved yet"
            raise ConductorError(f"unknown scene {scene!r} (known: {known})")
        if bars < PHRASE_BARS or bars % PHRASE_BARS:
            raise ConductorError(f"bars must be an even number >= 2, got {bars}")
        if set(self.current) != set(INSTRUMENTS):
            raise ConductorError("nothing is playing yet to interpolate from")
        steps = bars // PHRASE_BARS
        points = [
            {i: slerp(self.current[i].z, target[i], (k + 1) / steps) for i in INSTRUMENTS}
            for k in range(steps)
        ]
        self.interpolation = Interpolation(scene, points, target.key)
        self.orders.append(self.interpolation)
        self._held = None
        return self.interpolation

    def finish_interpolation(self) -> bool:
        """Clear a finished morph; True when it just ended (the state changed)."""
        if self.interpolation is not None and self.interpolation.done:
            self.interpolation = None
            return True
        return False

    def cancel_interpolation(self) -> None:
        """Drop the morph in progress, if any."""
        self.interpolation = None

    # -- bar by bar -------------------------------------------------------------------------

    def next_bar(self, bar: int) -> BarPlan | None:
        """What plays in ``bar``; ``None`` only before anything was ever decoded.

        Call once per bar, in order. The second bar of a phrase continues it, unless a change
        asked for the next bar line: then a new section starts here.
        """
        cut = self._pending_change == "bar" and self._moved()
        if self._set is not None and self._half == 0 and not cut:
            self._half = 1
            return BarPlan(bar, self._set.phrases, 1, self._set.tension, False)
        return self._next_phrase(bar)

    def next_phrases(self, index: int) -> PhraseSet | None:
        """The phrases of the next 2-bar phrase (both its bars), for callers that play whole
        phrases; ``None`` only before anything was ever decoded."""
        plan = self._next_phrase(index * PHRASE_BARS)
        if plan is None:
            return None
        self._half = 1
        return plan.phrase_set

    def _moved(self) -> bool:
        section = self.section
        if section is None:
            return True
        step = self.rules.tension_step
        return (
            abs(self.controls.tension - section.tension) >= step
            or abs(self.controls.temperature - section.temperature) >= step
        )

    def _section_due(self) -> bool:
        section = self.section
        if section is None or self._pending_label is not None:
            return True
        if self._slot >= section.phrases:
            return True
        return self._pending_change in ("phrase", "bar") and self._moved()

    def _next_phrase(self, bar: int) -> BarPlan | None:
        interpolation = self.interpolation
        if interpolation is not None and not interpolation.done:
            if interpolation.decoded is None and interpolation.grace > 0:
                interpolation.grace -= 1
            else:
                return self._morph_step(bar, interpolation)
        started: Section | None = None
        if self._section_due():
            started = self._plan_section(bar)
            if started is None:
                return None
        section = self.section
        assert section is not None
        slot = self._slot
        guitar = self._riff(section, section.letter(slot))
        last = slot == section.phrases - 1
        if self._pending_fill:  # a stinger: the whole next phrase fills
            drums = self._fill(section)
        elif last:  # the groove's first bar, then the fill: the section's turnaround
            drums = _turnaround(section.groove, self._fill(section))
        else:
            drums = section.groove
        self._pending_fill = False
        phrases: dict[Instrument, Phrase] = {
            "guitar": guitar,
            "bass": self._bass_of(guitar),
            "drums": drums,
        }
        self._slot += 1
        section.played += 1
        return self._play(bar, phrases, section.tension, started)

    def _play(
        self,
        bar: int,
        phrases: dict[Instrument, Phrase],
        tension: float,
        section: Section | None,
    ) -> BarPlan:
        self.current = phrases
        self._set = PhraseSet(next(self._phrases), phrases, tension)
        self._half = 0
        return BarPlan(bar, phrases, 0, tension, True, self._set, section)

    def _morph_step(self, bar: int, interpolation: Interpolation) -> BarPlan | None:
        point = interpolation.points[interpolation.position]
        decoded = None
        if interpolation.decoded is not None:
            decoded = interpolation.decoded[interpolation.position]
        interpolation.position += 1
        if decoded is not None:
            for instrument, phrase in decoded.items():
                self.buffers[instrument].played(phrase)
            chosen = dict(decoded)
        else:
            interpolation.stand_ins += 1
            chosen = {}
            for instrument in INSTRUMENTS:
                stand_in = self.buffers[instrument].nearest(point[instrument])
                if stand_in is None:
                    return None
                chosen[instrument] = stand_in
        if interpolation.done:
            # the next phrase starts a section on the scene, and the music stays there
            self._held = _Held(
                interpolation.scene,
                chosen["guitar"],
                chosen["bass"],
                chosen["drums"],
                interpolation.key,
            )
            self._pending_label = interpolation.scene
            self._pending_change = None
            self._requested_key = interpolation.key  # a scene brings its key
            self.section = None
        return self._play(bar, chosen, self.controls.tension, None)

    # -- sections ---------------------------------------------------------------------------

    def _plan_section(self, bar: int) -> Section | None:
        controls = self.controls
        previous = self.section
        label = self._pending_label
        if self._requested_key is not None:
            self._key, self._requested_key = self._requested_key, None
        key = self._key
        held = self._held
        if held is not None and (self._pending_change is None or not self._moved()):
            riffs = {"A": self._moved_into(_with_bass(held.guitar, held.bass), key)}
            groove: Phrase | None = held.drums
            label = label or held.name
        else:
            self._held = None
            riffs = {}
            groove = None
            keep = previous is not None and not self._moved() and label is None
            kept = self.rules.groove_sections[self.rules.band(controls.tension)]
            if keep and previous is not None and self._groove_age < kept:
                groove = previous.groove
        tension = controls.tension
        index = next(self._sections)
        pattern = self.rules.pattern(tension, index)
        if "A" not in riffs:
            first = self._pick_riff(tension, key)
            if first is None:
                return None
            riffs["A"] = first
        if groove is None:
            groove = self._pick_groove(tension, previous.groove if previous else None)
            if groove is None:
                return None
            self._groove_age = 0
        self._groove_age += 1
        for letter in dict.fromkeys(pattern.upper()):
            if letter not in riffs:
                picked = self._pick_riff(tension, key) if self._held is None else riffs["A"]
                riffs[letter] = picked if picked is not None else riffs["A"]
        order = self._order(pattern, riffs, groove, key)
        section = Section(
            index=index,
            label=label or _band_label(tension),
            key=key,
            tension=tension,
            temperature=controls.temperature,
            pattern=pattern,
            start_bar=bar,
            phrases=self.rules.section_phrases,
            riffs=riffs,
            groove=groove,
            order=order,
        )
        self.section = section
        self._slot = 0
        self._pending_label = None
        self._pending_change = None
        if order.variation_z is not None or order.fill_z is not None:
            self.orders.append(order)
        return section

    def _pick_groove(self, tension: float, previous: Phrase | None) -> Phrase | None:
        if previous is None:
            return self.buffers["drums"].pick(tension)
        # A groove sharing nothing with the old one sounds like another song: when none keeps
        # the asked share of its hits, one that keeps half that share still beats any.
        overlap = self.rules.groove_overlap
        return self.buffers["drums"].pick(
            tension,
            prefer=(
                lambda p: groove_similarity(previous, p) >= overlap,
                lambda p: groove_similarity(previous, p) >= overlap / 2,
            ),
        )

    def _pick_riff(self, tension: float, key: int) -> Phrase | None:
        # Harmony before tension, as for the bass: a riff out of the key sounds wrong at any
        # tension, so the key chooses among all buffered phrases (the nearest to the tension of
        # those that fit), and one with at most twice the notes outside it beats any other.
        fit = self.rules.key_fit
        looser = 2.0 * fit - 1.0
        picked = self.buffers["guitar"].pick(
            tension,
            prefer=(
                lambda p: p.features.get(KEY_FIT, 1.0) >= fit,
                lambda p: p.features.get(KEY_FIT, 1.0) >= looser,
            ),
            slack=math.inf,
        )
        return None if picked is None else self._moved_into(picked, key)

    def _moved_into(self, phrase: Phrase, key: int) -> Phrase:
        """``phrase`` (and its bass candidates) moved from the key it was fitted to into
        ``key``, by the smaller way round."""
        if phrase.key is None or phrase.key == key:
            return phrase
        shift = (key - phrase.key) % 12
        return transposed(phrase, shift - 12 if shift > 6 else shift)

    def _order(
        self, pattern: str, riffs: Mapping[str, Phrase], groove: Phrase, key: int
    ) -> SectionOrder:
        variations = [riffs[c.upper()].z for c in dict.fromkeys(pattern) if c.islower()]
        variation_z = None
        if variations:
            prior = self.rng.standard_normal((len(variations), len(variations[0])))
            amount = self.rules.variation
            variation_z = np.stack(
                [slerp(z, p, amount) for z, p in zip(variations, prior, strict=True)]
            )
        fill_z = None
        vector = self.fill_vector
        if vector is not None and vector.shape == groove.z.shape and np.any(vector):
            fill_z = (groove.z + self.rules.fill_length(self.controls.tension) * vector)[None, :]
        return SectionOrder(key, variation_z, fill_z)

    def _riff(self, section: Section, letter: str) -> Phrase:
        if letter.isupper():
            return section.riffs[letter]
        lower = [c for c in dict.fromkeys(section.pattern) if c.islower()]
        decoded = section.order.guitar
        if decoded is not None and letter in lower and lower.index(letter) < len(decoded):
            variation = decoded[lower.index(letter)]
            # a variation that leaves the key is not the riff bent: the riff plays again
            if variation.notes and variation.features.get(KEY_FIT, 1.0) >= self.rules.key_fit:
                return self._moved_into(variation, section.key)
            return section.riffs[letter.upper()]
        self.stand_ins += 1
        return section.riffs[letter.upper()]

    def _fill(self, section: Section) -> Phrase:
        decoded = section.order.drums
        if decoded:
            return decoded[0]
        fill_z = section.order.fill_z
        if fill_z is not None:
            self.stand_ins += 1
            nearest = self.buffers["drums"].nearest(fill_z[0])
            if nearest is not None:
                return nearest
        # No fill vector: the drums' most intense take near the section's tension stands in.
        fill = self.buffers["drums"].pick(min(1.0, section.tension + 0.3))
        return fill if fill is not None else section.groove

    def _bass_of(self, guitar: Phrase) -> Phrase:
        """The bass played with ``guitar``: the candidate that sounds best with it, by tension
        among equals (the buffer records it as played)."""
        candidates = best_fitting(guitar.accompaniment, self.rules.key_fit)
        bass = self.buffers["bass"].pick(self.controls.tension, candidates=candidates or None)
        if bass is None:  # nothing ever decoded for the bass: a silent stand-in
            return dataclasses.replace(guitar, instrument="bass", notes=(), accompaniment=())
        return bass


def _turnaround(groove: Phrase, fill: Phrase) -> Phrase:
    """The last phrase of a section: the groove's first bar (its notes cut at the bar line),
    then the fill's second bar — the drummer keeps time, then fills into the next section."""
    bar = PHRASE_BEATS / PHRASE_BARS
    notes = tuple(
        n._replace(end_beat=min(n.end_beat, bar)) for n in groove.notes if n.start_beat < bar
    ) + tuple(n for n in fill.notes if n.start_beat >= bar)
    return dataclasses.replace(fill, notes=notes)


def _with_bass(guitar: Phrase, bass: Phrase) -> Phrase:
    return dataclasses.replace(guitar, accompaniment=(bass,))


def _band_label(tension: float) -> str:
    return "calm" if tension < 1 / 3 else "drive" if tension < 2 / 3 else "intense"
