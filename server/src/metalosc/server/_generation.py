"""Model runners and the background work that keeps the phrase buffers full.

A *runner* is one model behind an async, batched ``decode`` that returns measured ``Phrase``s.
Each ``InstrumentModel`` owns a TF session that is not thread-safe, so every runner serializes its
calls (a ``CapacityLimiter`` of 1). Two kinds exist: ``ModelRunner`` here runs the model in a
worker thread of the daemon (``trio.to_thread.run_sync``), ``ProcessModelRunner`` (``_worker``)
in a worker process, so the decode's Python work (NoteSequence conversion, chord inference,
features) never holds the daemon's GIL. Decodes are batched (one ``sess.run`` for many phrases is
~20x cheaper per phrase on the big model; docs/architecture.md).

The bass is conditioned on chords, so it is decoded *with* each guitar phrase, on the chords
inferred from it: a few bass candidates per guitar phrase, each scored by how well its strong
beats fit those chords (``chord_fit`` feature), among which the conductor picks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import structlog
import trio
from metalosc.protocol import Instrument
from metalosc.runtime import (
    BASS_CANDIDATES,
    CHORD_FIT,
    NO_CHORD,
    Phrase,
    ZVector,
    notes_from_sequence,
    place_tension,
)

from ._buffer import PhraseBuffer
from ._conductor import Interpolation
from ._state import MusicState

__all__ = [
    "Generator",
    "InstrumentModelLike",
    "ModelRunner",
    "PhraseAnalysis",
    "Runner",
    "decode_phrases",
    "training_analysis",
]

log = structlog.get_logger("metalosc.server.generation")


class InstrumentModelLike(Protocol):
    """What the server needs of :class:`metalosc.runtime.InstrumentModel` (tests use fakes)."""

    @property
    def instrument(self) -> Instrument: ...
    @property
    def z_size(self) -> int: ...
    @property
    def tension_vector(self) -> npt.NDArray[Any]: ...
    def sample_z(self, n: int, rng: np.random.Generator) -> npt.NDArray[Any]: ...
    def decode(
        self, z: npt.NDArray[Any], temperature: float = 1.0, chords: Sequence[str] | None = None
    ) -> list[Any]: ...
    def encode(
        self, seqs: Sequence[Any], chords: Sequence[str] | None = None
    ) -> npt.NDArray[Any]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class PhraseAnalysis:
    """How decoded NoteSequences are measured: ``intensity``/``phrase_features``,
    ``infer_chords`` and ``chord_fit`` from :mod:`metalosc.runtime` in production, simple
    stand-ins in unit tests."""

    intensity: Callable[[Any, Instrument], float]
    features: Callable[[Any, Instrument], dict[str, float]]
    chords: Callable[[Any], list[str]]
    chord_fit: Callable[[Any, Sequence[str]], float]


def training_analysis() -> PhraseAnalysis:
    """The real analysis: :mod:`metalosc.runtime`'s measures."""
    from metalosc.runtime import chord_fit, infer_chords, intensity, phrase_features

    return PhraseAnalysis(
        intensity=intensity,
        features=phrase_features,
        chords=lambda seq: list(infer_chords(seq, None, 2)),
        chord_fit=chord_fit,
    )


class Runner(Protocol):
    """What the generator needs of a model runner (thread or process)."""

    instrument: Instrument
    limiter: trio.CapacityLimiter
    phrases_decoded: int
    decode_seconds: float

    @property
    def z_size(self) -> int: ...
    @property
    def tension_vector(self) -> npt.NDArray[Any]: ...
    def sample_z(self, n: int, rng: np.random.Generator) -> npt.NDArray[Any]: ...
    async def decode(
        self,
        z: ZVector,
        temperature: float,
        chords: Sequence[str] | None,
        ids: Sequence[int],
        *,
        with_chords: bool = False,
    ) -> list[Phrase]: ...
    def close(self) -> None: ...


def decode_phrases(
    model: InstrumentModelLike,
    analysis: PhraseAnalysis,
    z: ZVector,
    temperature: float,
    chords: Sequence[str] | None,
    ids: Sequence[int],
    with_chords: bool,
) -> list[Phrase]:
    """Decode a batch and measure every phrase (blocking; runs in a worker thread or process).

    ``with_chords`` infers each phrase's own chords (the guitar, whose chords condition the bass);
    otherwise a phrase carries the ``chords`` it was decoded on, and how well it fits them (the
    ``chord_fit`` feature).
    """
    instrument = model.instrument
    seqs = model.decode(np.asarray(z, dtype=np.float32), temperature, chords)
    out = []
    for seq, zi, pid in zip(seqs, z, ids, strict=True):
        features = dict(analysis.features(seq, instrument))
        if chords is not None and not with_chords:
            features[CHORD_FIT] = float(analysis.chord_fit(seq, chords))
        out.append(
            Phrase(
                instrument=instrument,
                z=np.asarray(zi, dtype=np.float64),
                notes=notes_from_sequence(seq),
                intensity=float(analysis.intensity(seq, instrument)),
                features=features,
                chords=tuple(analysis.chords(seq)) if with_chords else tuple(chords or ()),
                id=pid,
            )
        )
    return out


class ModelRunner:
    """One model, one worker thread of this process; every call is batched and runs off the
    trio thread (the GIL is shared with the event loop: see ``ProcessModelRunner``)."""

    def __init__(self, model: InstrumentModelLike, analysis: PhraseAnalysis) -> None:
        self.model = model
        self.instrument: Instrument = model.instrument
        self.analysis = analysis
        self.limiter = trio.CapacityLimiter(1)
        self.phrases_decoded = 0
        self.decode_seconds = 0.0

    async def decode(
        self,
        z: ZVector,
        temperature: float,
        chords: Sequence[str] | None,
        ids: Sequence[int],
        *,
        with_chords: bool = False,
    ) -> list[Phrase]:
        """Decode a batch of latents into measured phrases (decoding and measuring threaded)."""
        work = partial(self._decode_sync, z, temperature, chords, ids, with_chords)
        started = trio.current_time()
        phrases = await trio.to_thread.run_sync(work, limiter=self.limiter)
        self.decode_seconds += trio.current_time() - started
        self.phrases_decoded += len(phrases)
        return phrases

    def _decode_sync(
        self,
        z: ZVector,
        temperature: float,
        chords: Sequence[str] | None,
        ids: Sequence[int],
        with_chords: bool,
    ) -> list[Phrase]:
        return decode_phrases(self.model, self.analysis, z, temperature, chords, ids, with_chords)

    @property
    def z_size(self) -> int:
        return self.model.z_size

    @property
    def tension_vector(self) -> npt.NDArray[Any]:
        return self.model.tension_vector

    def sample_z(self, n: int, rng: np.random.Generator) -> npt.NDArray[Any]:
        return self.model.sample_z(n, rng)

    def replace(self, model: InstrumentModelLike) -> InstrumentModelLike:
        """Swap in a reloaded model (hold ``limiter``); returns the old one for the caller to
        close."""
        old, self.model = self.model, model
        self.instrument = model.instrument
        return old

    def close(self) -> None:
        self.model.close()


class Generator:
    """Keeps the guitar(+bass) and drum buffers at depth and decodes interpolation paths."""

    def __init__(
        self,
        runners: Mapping[Instrument, Runner],
        buffers: Mapping[Instrument, PhraseBuffer],
        state: MusicState,
        *,
        seed: int | None = None,
        batch_size: int = 16,
        bass_candidates: int = BASS_CANDIDATES,
        tension_spread: float = 0.35,
        retune_step: float = 0.1,
    ) -> None:
        self.runners = runners
        self.buffers = buffers
        self.state = state
        self.rng = np.random.default_rng(seed)
        self.batch_size = batch_size
        self.bass_candidates = bass_candidates
        self.tension_spread = tension_spread
        self.retune_step = retune_step
        self._tuned_for: dict[Instrument, float] = {}
        self._unsupported_chords: set[tuple[str, ...]] = set()
        self._ids = itertools.count(1)
        self._wanted = trio.Event()

    def poke(self) -> None:
        """Wake the refill loops (a phrase was taken, or the tension moved)."""
        self._wanted.set()
        self._wanted = trio.Event()

    def sample(self, instrument: Instrument, n: int) -> ZVector:
        """``n`` latents ~ N(0, I), each placed along the tension direction at a tension target
        scattered around the current tension, so the pool covers the range the music may need.

        Placed, not pushed (:func:`metalosc.runtime.place_tension`, the mapping the quality
        report calibrates): the coordinate along the bundle's tension vector is set from the
        target, the other directions stay as sampled.
        """
        runner = self.runners[instrument]
        z = np.asarray(runner.sample_z(n, self.rng), dtype=np.float64)
        targets = np.clip(self.state.tension + self.rng.normal(0.0, self.tension_spread, n), 0, 1)
        return place_tension(z, runner.tension_vector, targets)

    def _take_ids(self, n: int) -> list[int]:
        return [next(self._ids) for _ in range(n)]

    async def decode_guitar_with_bass(
        self, z: ZVector, bass_z: ZVector | None = None
    ) -> list[Phrase]:
        """Guitar phrases, each carrying bass phrases decoded on its own chords.

        ``bass_z`` (one row per guitar phrase) decodes exactly those bass latents (interpolation);
        otherwise ``bass_candidates`` fresh latents per guitar phrase.
        """
        temperature = self.state.temperature
        guitar = await self.runners["guitar"].decode(
            z, temperature, None, self._take_ids(len(z)), with_chords=True
        )
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, phrase in enumerate(guitar):
            groups.setdefault(phrase.chords, []).append(i)
        accompaniment: dict[int, tuple[Phrase, ...]] = {}
        per = 1 if bass_z is not None else self.bass_candidates
        for chords, members in groups.items():
            zb = bass_z[members] if bass_z is not None else self.sample("bass", per * len(members))
            bass = await self._decode_bass(zb, temperature, list(chords))
            for j, i in enumerate(members):
                accompaniment[i] = tuple(bass[j * per : (j + 1) * per])
        self.buffers["bass"].observe(p for ps in accompaniment.values() for p in ps)
        return [
            Phrase(
                instrument=p.instrument,
                z=p.z,
                notes=p.notes,
                intensity=p.intensity,
                features=p.features,
                chords=p.chords,
                accompaniment=accompaniment[i],
                id=p.id,
            )
            for i, p in enumerate(guitar)
        ]

    async def _decode_bass(self, z: ZVector, temperature: float, chords: list[str]) -> list[Phrase]:
        """Bass phrases on ``chords``; a progression the model cannot encode (chord inference can
        name chords the bass model's encoding has no class for) is played as "no chord" instead
        of failing the refill, and reported once per progression."""
        runner = self.runners["bass"]
        try:
            return await runner.decode(z, temperature, chords, self._take_ids(len(z)))
        except ValueError as exc:
            if tuple(chords) not in self._unsupported_chords:
                self._unsupported_chords.add(tuple(chords))
                log.warning("bass_chords_unsupported", chords=chords, error=str(exc))
            no_chords = [NO_CHORD] * len(chords)
            return await runner.decode(z, temperature, no_chords, self._take_ids(len(z)))

    async def refill(self, instrument: Instrument) -> int:
        """Decode one batch into ``instrument``'s buffer if it is short, or if the tension moved
        by more than ``retune_step`` since the last batch (the pool then holds phrases chosen for
        another tension; a full batch lets the pool's eviction keep the ones that fit now).
        Returns the number of phrases added."""
        buffer = self.buffers[instrument]
        n = min(self.batch_size, buffer.missing)
        tension = self.state.tension
        if n == 0 and abs(tension - self._tuned_for.get(instrument, tension)) > self.retune_step:
            n = self.batch_size
        if n == 0:
            return 0
        self._tuned_for[instrument] = tension
        z = self.sample(instrument, n)
        if instrument == "guitar":
            phrases = await self.decode_guitar_with_bass(z)
        else:
            phrases = await self.runners[instrument].decode(
                z, self.state.temperature, None, self._take_ids(n)
            )
        buffer.add(phrases, self.state.tension)
        log.debug("buffer_refilled", instrument=instrument, added=n, depth=len(buffer))
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
                await runner.decode(z, 1.0, chords, [0] * n)

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

    async def refill_forever(self, instrument: Instrument) -> None:
        """Background task: top ``instrument``'s buffer up whenever phrases are taken."""
        while True:
            wanted = self._wanted
            if await self.refill(instrument) == 0:
                await wanted.wait()

    async def decode_interpolation(self, interp: Interpolation) -> None:
        """Decode every point of ``interp`` (one batch per instrument) and hand them to it."""
        points = interp.points
        guitar_z = np.stack([p["guitar"] for p in points])
        bass_z = np.stack([p["bass"] for p in points])
        drums_z = np.stack([p["drums"] for p in points])
        results: dict[Instrument, list[Phrase]] = {}

        async def guitar_and_bass() -> None:
            guitar = await self.decode_guitar_with_bass(guitar_z, bass_z)
            results["guitar"] = guitar
            results["bass"] = [g.accompaniment[0] for g in guitar]

        async def drums() -> None:
            results["drums"] = await self.runners["drums"].decode(
                drums_z, self.state.temperature, None, self._take_ids(len(drums_z))
            )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(guitar_and_bass)
            nursery.start_soon(drums)
        interp.decoded = [
            {
                "guitar": results["guitar"][k],
                "bass": results["bass"][k],
                "drums": results["drums"][k],
            }
            for k in range(len(points))
        ]
        log.info("interpolation_decoded", scene=interp.scene, phrases=len(points))
