"""The background work that keeps the phrase buffers full and decodes what the conductor orders.

The generator asks for latents around the current tension (a :class:`LatentDraw`, which the
executor draws where the model runs), has the model runners decode them in batches (one
``session.run`` for many phrases is ~20x cheaper per phrase on the big model than one at a time),
and offers the phrases to the buffers. It runs as one service: a refill loop per
buffer, woken whenever a phrase is taken or the tension moves, and a queue of orders — a morph's
path, a section's riff variations and drum fill — to decode.

Every guitar phrase is arranged before anything else hears it: a phrase that leaves a bar (nearly)
empty is not the band and is dropped (``guitar_min_notes``), the rest are moved into the key the
music is heading for (:func:`metalosc.runtime.into_key`) and voiced as power chords. The bass is
conditioned on chords, so it is decoded *with* each guitar phrase, on the chords of the moved
guitar: a few candidates per guitar phrase, each scored by how often it sounds with the guitar on
beats 1 and 3 (``agreement``) and how well its strong beats fit the chords (``chord_fit``), among
which the conductor picks.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import structlog
import trio
from metalosc.protocol import Instrument
from metalosc.runtime import (
    BASS_CANDIDATES,
    BEATS_PER_BAR,
    KEY_FIT,
    NO_CHORD,
    PHRASE_BARS,
    TENSION_AXES,
    Phrase,
    ZVector,
    diatonic_share,
    guitar_bass_agreement,
    into_key,
    power_chords,
    timed,
)

from ._buffer import PhraseBuffer
from ._conductor import AGREEMENT, Interpolation, SectionOrder
from ._controls import Controls
from ._runner import DecodeRequest, LatentDraw, ModelRunner

__all__ = ["Generator"]

log = structlog.get_logger("metalosc.server.generation")


class Generator:
    """Keeps the guitar (with its bass candidates) and drum buffers at depth, and decodes the
    conductor's orders (morph paths, section variations and fills).

    ``runners`` decode, ``buffers`` receive, ``controls`` give the tension and temperature to
    decode for, ``key()`` the key (pitch class) new guitar phrases are moved into. Latents are
    drawn from ``seed``'s generator; ``batch_size`` phrases per decode, ``bass_candidates`` bass
    phrases per guitar phrase; sampled tensions scatter around the current one with standard
    deviation ``tension_spread``; a move of the tension by more than ``retune_step`` since a
    buffer's last batch decodes a fresh batch for it. A refilled guitar phrase needs
    ``guitar_min_notes`` onsets in each of its bars; ``power_chords`` voices the guitar.
    """

    def __init__(
        self,
        runners: Mapping[Instrument, ModelRunner],
        buffers: Mapping[Instrument, PhraseBuffer],
        controls: Controls,
        *,
        seed: int | None = None,
        batch_size: int = 16,
        bass_candidates: int = BASS_CANDIDATES,
        tension_spread: float = 0.35,
        retune_step: float = 0.1,
        key: Callable[[], int] = lambda: 4,
        guitar_min_notes: int = 2,
        power_chords: bool = True,
    ) -> None:
        self.runners = runners
        self.buffers = buffers
        self.controls = controls
        self.rng = np.random.default_rng(seed)
        self.batch_size = batch_size
        self.bass_candidates = bass_candidates
        self.tension_spread = tension_spread
        self.retune_step = retune_step
        self.key = key
        self.guitar_min_notes = guitar_min_notes
        self.power_chords = power_chords
        self.interpolations_failed = 0
        self.orders_failed = 0
        self.refills_failed = 0
        self.guitar_dropped = 0
        self._dry_refills = 0
        self._tuned_for: dict[Instrument, float] = {}
        self._unsupported_chords: set[tuple[str, ...]] = set()
        self._ids = itertools.count(1)
        self._wanted = trio.Event()
        self._orders_in, self._orders_out = trio.open_memory_channel[Order](16)

    def poke(self) -> None:
        """Wake the refill loops (a phrase was taken, or the tension moved)."""
        self._wanted.set()
        self._wanted = trio.Event()

    def decode_soon(self, order: Order) -> None:
        """Queue ``order`` for decoding by :meth:`run` (never blocks; an order that does not fit
        the queue is dropped and counted as failed, and the conductor plays stand-ins)."""
        try:
            self._orders_in.send_nowait(order)
        except trio.WouldBlock:
            self.orders_failed += 1
            log.warning("decode_queue_full", order=type(order).__name__)

    def draw(self, instrument: Instrument, n: int) -> LatentDraw:
        """``n`` latents ~ N(0, I) for ``instrument``'s executor to draw (a seed from this
        generator's own), each placed along the tension direction at a tension target
        scattered around the current tension, so the pool covers the range the music may need.

        Placed, not pushed (:func:`metalosc.runtime.place_tension`, the mapping the quality
        report calibrates): the coordinate along the bundle's tension vector is set from the
        target, the other directions stay as sampled.
        """
        spread = self.rng.normal(0.0, self.tension_spread, n)
        targets = np.clip(self.controls.tension + spread, 0.0, 1.0)
        seed = int(self.rng.integers(2**63))
        return LatentDraw(seed, tuple(float(t) for t in targets), TENSION_AXES[instrument])

    def _take_ids(self, n: int) -> list[int]:
        return [next(self._ids) for _ in range(n)]

    async def decode_guitar_with_bass(
        self,
        z: ZVector | LatentDraw,
        bass_z: ZVector | None = None,
        *,
        key: int | None = None,
        admit: bool = False,
    ) -> list[Phrase]:
        """Guitar phrases from ``z`` ``[n, z_size]`` (or a draw of ``n``), moved into ``key``
        (default: ``key()``) and voiced, each carrying bass phrases decoded on its chords
        (``accompaniment``).

        ``bass_z`` (``[n, bass z_size]``, one row per guitar phrase) decodes exactly those bass
        latents (a morph); otherwise ``bass_candidates`` fresh latents per guitar phrase. With
        ``admit``, phrases with fewer than ``guitar_min_notes`` onsets in a bar, or that no
        transposition puts at least ``MIN_KEY_FIT`` into the key, are dropped (counted in
        ``guitar_dropped``), so fewer phrases may come back.
        """
        temperature = self.controls.temperature
        request = DecodeRequest.of(z, temperature, None, self._take_ids(len(z)), infer_chords=True)
        decoded = await self.runners["guitar"].decode(request)
        tonic = self.key() if key is None else key
        guitar: dict[int, Phrase] = {}
        for i, phrase in enumerate(decoded):
            moved = into_key(phrase, tonic)
            if admit and not (
                _plays_every_bar(phrase, self.guitar_min_notes)
                and moved.features[KEY_FIT] >= MIN_KEY_FIT
            ):
                self.guitar_dropped += 1
                continue
            guitar[i] = power_chords(moved) if self.power_chords else moved
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, phrase in guitar.items():
            groups.setdefault(phrase.chords, []).append(i)
        accompaniment: dict[int, tuple[Phrase, ...]] = {}
        per = 1 if bass_z is not None else self.bass_candidates
        for chords, members in groups.items():
            zb = bass_z[members] if bass_z is not None else self.draw("bass", per * len(members))
            bass = await self._decode_bass(zb, temperature, list(chords))
            for j, i in enumerate(members):
                candidates = bass[j * per : (j + 1) * per]
                accompaniment[i] = tuple(_with_agreement(b, guitar[i]) for b in candidates)
        self.buffers["bass"].observe(p for ps in accompaniment.values() for p in ps)
        return [
            dataclasses.replace(phrase, accompaniment=accompaniment[i])
            for i, phrase in guitar.items()
        ]

    async def _decode_bass(
        self, z: ZVector | LatentDraw, temperature: float, chords: list[str]
    ) -> list[Phrase]:
        """Bass phrases on ``chords``; a progression the model cannot encode (chord inference can
        name chords the bass model's encoding has no class for) is played as "no chord" instead
        of failing the refill, and reported once per progression."""
        runner = self.runners["bass"]
        try:
            return await runner.decode(
                DecodeRequest.of(z, temperature, chords, self._take_ids(len(z)))
            )
        except ValueError as exc:
            if tuple(chords) not in self._unsupported_chords:
                self._unsupported_chords.add(tuple(chords))
                log.warning("bass_chords_unsupported", chords=chords, error=str(exc))
            no_chords = [NO_CHORD] * len(chords)
            request = DecodeRequest.of(z, temperature, no_chords, self._take_ids(len(z)))
            return await runner.decode(request)

    async def refill(self, instrument: Instrument) -> int:
        """Decode one batch into ``instrument``'s buffer if it is short, or if the tension moved
        by more than ``retune_step`` since the last batch (the pool then holds phrases chosen for
        another tension; a full batch lets the pool's eviction keep the ones that fit now).
        Returns the number of phrases added."""
        buffer = self.buffers[instrument]
        n = min(self.batch_size, buffer.missing)
        tension = self.controls.tension
        if n == 0 and abs(tension - self._tuned_for.get(instrument, tension)) > self.retune_step:
            n = self.batch_size
        if n == 0:
            return 0
        self._tuned_for[instrument] = tension
        z = self.draw(instrument, n)
        if instrument == "guitar":
            # A model that plays (almost) nothing at this tension must not starve the buffer:
            # after a few batches in which every phrase was dropped, take what it decodes.
            admit = self._dry_refills < MAX_DRY_REFILLS
            phrases = await self.decode_guitar_with_bass(z, admit=admit)
            self._dry_refills = 0 if phrases else self._dry_refills + 1
        else:
            request = DecodeRequest.of(z, self.controls.temperature, None, self._take_ids(n))
            phrases = await self.runners[instrument].decode(request)
        buffer.add(phrases, self.controls.tension)
        log.debug("buffer_refilled", instrument=instrument, added=len(phrases), depth=len(buffer))
        return n

    async def warm_up(self, sizes: Sequence[int] = (1, 2, 4, 8, 16, 32)) -> None:
        """Decode once at every batch size the daemon will use, before it says ready.

        The model builds a sampling graph per batch size on first use: a burst of Python that
        holds the GIL and would otherwise compete with the event loop mid-song (bench/send_lead.py
        on a busy 2-core machine: 67 late sends, worst 0.87 s, before; 19, worst 0.45 s, after).
        """

        async def warm(instrument: Instrument) -> None:
            runner = self.runners[instrument]
            chords = [NO_CHORD, NO_CHORD] if instrument == "bass" else None
            for n in sizes:
                z = np.zeros((n, runner.z_size))
                await runner.decode(DecodeRequest.of(z, 1.0, chords, [0] * n))

        async with trio.open_nursery() as nursery:
            for instrument in self.runners:
                nursery.start_soon(warm, instrument)

    async def prime(self) -> None:
        """Fill every buffer to depth (before the daemon says it is ready)."""
        async with trio.open_nursery() as nursery:
            for instrument in ("guitar", "drums"):
                nursery.start_soon(self._fill, instrument)

    async def _fill(self, instrument: Instrument) -> None:
        while await self.refill(instrument):
            pass

    async def run(self) -> None:
        """Forever: keep the buffers full and decode queued orders."""
        async with trio.open_nursery() as nursery:
            for instrument in ("guitar", "drums"):
                nursery.start_soon(self._refill_forever, instrument)
            async for order in self._orders_out:
                await self.decode_order(order)

    async def decode_order(self, order: Order) -> None:
        """Decode one order; a failure is logged and counted, and the conductor plays stand-ins
        for what is missing (the music goes on)."""
        # Logged without the traceback: rendering one (a console renderer's pretty traceback
        # took seconds) would hold the event loop, and the runner already said what failed.
        if isinstance(order, Interpolation):
            try:
                await self.decode_interpolation(order)
            except Exception as exc:
                self.interpolations_failed += 1
                log.error("interpolation_decode_failed", scene=order.scene, error=repr(exc))
            return
        try:
            await self.decode_section(order)
        except Exception as exc:
            self.orders_failed += 1
            log.error("section_decode_failed", order=order.id, error=repr(exc))

    async def decode_section(self, order: SectionOrder) -> None:
        """Decode a section's riff variations (with their bass candidates, in the section's key)
        and its drum fill, and hand them to the order."""
        if order.variation_z is not None:
            order.guitar = await self.decode_guitar_with_bass(order.variation_z, key=order.key)
        if order.fill_z is not None:
            ids = self._take_ids(len(order.fill_z))
            request = DecodeRequest.of(order.fill_z, self.controls.temperature, None, ids)
            order.drums = await self.runners["drums"].decode(request)
        log.debug("section_decoded", order=order.id)

    async def _refill_forever(self, instrument: Instrument) -> None:
        """Refill ``instrument``'s buffer whenever it is wanted. A refill that fails (a model
        worker died, hung or raised: its runner restarts it) is retried after a growing pause,
        logged once per run of failures; the conductor plays from the buffer meanwhile."""
        failures = 0
        while True:
            wanted = self._wanted
            try:
                added = await self.refill(instrument)
            except Exception as exc:
                failures += 1
                self.refills_failed += 1
                if failures == 1:
                    log.warning("refill_failed", instrument=instrument, error=str(exc))
                await trio.sleep(min(REFILL_RETRY_S[1], REFILL_RETRY_S[0] * 2 ** (failures - 1)))
                continue
            if failures:
                log.info("refill_recovered", instrument=instrument, failures=failures)
                failures = 0
            if added == 0:
                await wanted.wait()

    async def decode_interpolation(self, interpolation: Interpolation) -> None:
        """Decode every point of ``interpolation`` (one batch per instrument) and hand the
        phrases to it (``interpolation.decoded``)."""
        points = interpolation.points
        guitar_z = np.stack([p["guitar"] for p in points])
        bass_z = np.stack([p["bass"] for p in points])
        drums_z = np.stack([p["drums"] for p in points])
        results: dict[Instrument, list[Phrase]] = {}

        async def guitar_and_bass() -> None:
            guitar = await self.decode_guitar_with_bass(guitar_z, bass_z, key=interpolation.key)
            results["guitar"] = guitar
            results["bass"] = [g.accompaniment[0] for g in guitar]

        async def drums() -> None:
            ids = self._take_ids(len(drums_z))
            request = DecodeRequest.of(drums_z, self.controls.temperature, None, ids)
            results["drums"] = await self.runners["drums"].decode(request)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(guitar_and_bass)
            nursery.start_soon(drums)
        interpolation.decoded = [
            {
                "guitar": results["guitar"][k],
                "bass": results["bass"][k],
                "drums": results["drums"][k],
            }
            for k in range(len(points))
        ]
        log.info("interpolation_decoded", scene=interpolation.scene, phrases=len(points))


MIN_KEY_FIT = 0.8
"""A guitar phrase whose best transposition leaves more than a fifth of it outside the key is
chromatic noodling, not a riff in the key: dropped at refill (about a fifth of the default guitar's
phrases at high tension)."""
REFILL_RETRY_S = (0.25, 5.0)
"""First and longest pause (seconds) before retrying a failed refill; doubling between."""
MAX_DRY_REFILLS = 3
"""Guitar batches in a row with every phrase dropped before the rest are admitted anyway."""

Order = Interpolation | SectionOrder
"""What the conductor asks the generator to decode ahead of time."""


def _plays_every_bar(phrase: Phrase, min_onsets: int) -> bool:
    """Whether ``phrase`` has at least ``min_onsets`` note onsets in each of its bars."""
    onsets = [set() for _ in range(PHRASE_BARS)]  # type: list[set[float]]
    for note in phrase.notes:
        bar = int(note.start_beat // BEATS_PER_BAR)
        if 0 <= bar < PHRASE_BARS:
            onsets[bar].add(note.start_beat)
    return all(len(bar) >= min_onsets for bar in onsets)


def _with_agreement(bass: Phrase, guitar: Phrase) -> Phrase:
    """``bass`` with its ``agreement`` with ``guitar`` and its ``key_fit`` to the guitar's key
    measured (features), and the guitar's key."""
    agreement = guitar_bass_agreement(timed(guitar), timed(bass))
    features = {**bass.features, AGREEMENT: 0.0 if agreement != agreement else agreement}
    if guitar.key is not None:
        share = diatonic_share(
            [(n.pitch, n.end_beat - n.start_beat) for n in bass.notes], guitar.key
        )
        features[KEY_FIT] = 1.0 if share != share else share  # no notes: nothing off key
    return dataclasses.replace(bass, features=features, key=guitar.key)
