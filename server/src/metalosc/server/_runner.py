"""One model behind an async, batched ``decode``: the runner, and the executors it can run on.

A :class:`ModelRunner` is what the generator talks to: ``await runner.decode(request)`` returns
measured :class:`~metalosc.runtime.Phrase`\\ s. It keeps one request in flight per model (a
``CapacityLimiter`` of 1: a TF session is not thread-safe, and a worker answers one request at
a time), bounds each decode by a deadline, and counts what it decoded. *Where* the model runs is
the executor's business:

* :class:`ThreadExecutor` — the model in this process, called in a trio worker thread;
* :class:`~metalosc.server.ProcessExecutor` — the model in a spawned worker process, so its Python
  never holds the event loop's GIL (the daemon's default; ``_worker``); the loop itself sends the
  request and reads the phrases.

Both take the same frozen :class:`DecodeRequest` and run the same :func:`decode_phrases`, so the
two paths differ only in where they run. ``replace`` swaps the executor (a reload).

**Supervision.** Given a way to open a fresh executor (``restart``), the runner restarts its
model when a decode fails in a way that says the executor is no longer sound: the worker died
(:class:`~metalosc.server.WorkerDiedError`), it did not answer within ``decode_timeout`` seconds
(it is closed, which kills a worker process that hangs, and the call raises
:class:`WorkerHungError`), or the model raised anything but a ``ValueError`` (a model refusing its
input — chords it cannot encode — is healthy and stays). The failed call raises; the caller (the
generator) tries again later, and meanwhile the conductor plays from the buffers. Each fault is
counted (``restarts``, metric ``worker_restarts``) and logged once; a restart that fails, or a
model that fails again soon after its restart, is retried with a growing delay (1 s doubling to
60 s), and until one succeeds decodes fail at once with
:class:`ModelUnavailableError` instead of waiting. A model running in a thread of the daemon
cannot be stopped when it hangs: hang recovery needs a worker process.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import structlog
import trio
from metalosc.protocol import Instrument
from metalosc.runtime import CHORD_FIT, Phrase, ZVector, notes_from_sequence, place_tension

from ._metrics import Metrics

__all__ = [
    "DecodeRequest",
    "Executor",
    "InstrumentModelLike",
    "LatentDraw",
    "ModelInfo",
    "ModelRunner",
    "ModelUnavailableError",
    "PhraseAnalysis",
    "RestartExecutor",
    "ThreadExecutor",
    "WorkerHungError",
    "decode_phrases",
    "model_analysis",
]

log = structlog.get_logger("metalosc.server.runner")

RESTART_BACKOFF_S = (1.0, 60.0)
"""First and longest wait (seconds) before retrying a restart that failed; doubling between."""


class InstrumentModelLike(Protocol):
    """What the daemon needs of :class:`metalosc.runtime.InstrumentModel` (tests use fakes)."""

    @property
    def instrument(self) -> Instrument:
        """Which instrument the model plays."""
        ...

    @property
    def z_size(self) -> int:
        """Latent size."""
        ...

    @property
    def tension_vector(self) -> npt.NDArray[Any]:
        """``[z_size]``: the bundle's tension attribute vector."""
        ...

    @property
    def fill_vector(self) -> npt.NDArray[Any]:
        """``[z_size]``: the bundle's fill attribute vector (zeros when it has none)."""
        ...

    def decode(
        self, z: npt.NDArray[Any], temperature: float = 1.0, chords: Sequence[str] | None = None
    ) -> list[Any]:
        """Quantized 2-bar NoteSequences from ``z`` ``[n, z_size]`` (``chords``: one symbol per
        bar, required by a chord-conditioned model, refused by the others: ``ValueError``)."""
        ...

    def close(self) -> None:
        """Free the model."""
        ...


@dataclass(frozen=True)
class PhraseAnalysis:
    """How decoded NoteSequences are measured: :func:`model_analysis` in production, simple
    stand-ins in unit tests (``metalosc.server.testing``)."""

    intensity: Callable[[Any, Instrument], float]
    features: Callable[[Any, Instrument], dict[str, float]]
    chords: Callable[[Any], list[str]]
    chord_fit: Callable[[Any, Sequence[str]], float]


def model_analysis() -> PhraseAnalysis:
    """The real analysis: :mod:`metalosc.runtime`'s measures."""
    from metalosc.runtime import chord_fit, infer_chords, intensity, phrase_features

    return PhraseAnalysis(
        intensity=intensity,
        features=phrase_features,
        chords=lambda seq: list(infer_chords(seq, None, 2)),
        chord_fit=chord_fit,
    )


@dataclass(frozen=True)
class ModelInfo:
    """What the daemon knows of a loaded model without touching it: its instrument, latent size
    and attribute vectors (``[z_size]`` float64 each; zeros when the bundle has none)."""

    instrument: Instrument
    z_size: int
    tension_vector: npt.NDArray[np.float64]
    fill_vector: npt.NDArray[np.float64]

    @classmethod
    def of(cls, model: InstrumentModelLike) -> ModelInfo:
        """The info of a loaded model."""
        tension = np.asarray(model.tension_vector, dtype=np.float64)
        fill = np.asarray(model.fill_vector, dtype=np.float64)
        return cls(model.instrument, int(model.z_size), tension, fill)


@dataclass(frozen=True)
class LatentDraw:
    """Latents for the executor to draw where the model decodes: ``len(tensions)`` samples of
    the prior N(0, I) (MusicVAE's prior is a standard normal) from ``seed``, each placed at its
    tension target (0..1) along the model's tension vector, on the stretch ``axis`` of it
    (:func:`metalosc.runtime.place_tension`).

    Why not drawn in the daemon: a batch's draw (a guitar batch: 16 × 128 normals, ~25 µs warm,
    then the placement, ~65 µs; several times that on a cold cache) was one step of the event
    loop per batch, and a control message arriving meanwhile waited for it. The same draw gives
    the same latents wherever it is made.
    """

    seed: int
    tensions: tuple[float, ...]
    axis: tuple[float, float]

    def __len__(self) -> int:
        return len(self.tensions)

    def latents(self, z_size: int, tension_vector: npt.ArrayLike) -> ZVector:
        """``[len(self), z_size]`` float64: the drawn and placed latents."""
        z = np.random.default_rng(self.seed).standard_normal((len(self.tensions), z_size))
        return place_tension(z, tension_vector, np.asarray(self.tensions), self.axis)


@dataclass(frozen=True)
class DecodeRequest:
    """One batched decode.

    ``z``: ``[n, z_size]`` latents, or a :class:`LatentDraw` of ``n`` for the executor to draw
    (each phrase carries the latent it was decoded from either way); ``temperature``: sampling
    temperature (> 0); ``chords``: one symbol per bar conditioning the whole batch (the bass),
    else ``None``; ``ids``: ``[n]`` phrase ids to give the phrases; ``infer_chords``: infer
    each phrase's own chords (the guitar, whose chords condition the bass).
    """

    z: ZVector | LatentDraw
    temperature: float
    chords: tuple[str, ...] | None
    ids: tuple[int, ...]
    infer_chords: bool = False

    @classmethod
    def of(
        cls,
        z: npt.ArrayLike | LatentDraw,
        temperature: float,
        chords: Sequence[str] | None,
        ids: Sequence[int],
        *,
        infer_chords: bool = False,
    ) -> DecodeRequest:
        """A request with ``z`` as float64 (or the draw) and the sequences as tuples
        (picklable, frozen). Raises ``ValueError`` when ``z`` is not ``[len(ids), z_size]``,
        or a draw of another size."""
        latents: ZVector | LatentDraw
        if isinstance(z, LatentDraw):
            if len(z) != len(ids):
                raise ValueError(f"a draw of {len(z)} latents for {len(ids)} ids")
            latents = z
        else:
            latents = np.asarray(z, dtype=np.float64)
            if latents.ndim != 2 or len(latents) != len(ids):
                raise ValueError(f"z must be [{len(ids)}, z_size], got {list(latents.shape)}")
        return cls(
            latents,
            float(temperature),
            None if chords is None else tuple(chords),
            tuple(int(i) for i in ids),
            infer_chords,
        )


def decode_phrases(
    model: InstrumentModelLike, analysis: PhraseAnalysis, request: DecodeRequest
) -> list[Phrase]:
    """Decode a batch and measure every phrase (blocking: runs in a worker thread or process).

    A phrase carries its features and intensity; with ``infer_chords`` its own inferred chords,
    otherwise the ``chords`` it was decoded on and how well it fits them (``chord_fit``).
    Raises whatever the model raises (``ValueError`` for chords it cannot encode).
    """
    instrument = model.instrument
    chords = list(request.chords) if request.chords is not None else None
    z = request.z
    if isinstance(z, LatentDraw):
        z = z.latents(model.z_size, model.tension_vector)
    seqs = model.decode(np.asarray(z, dtype=np.float32), request.temperature, chords)
    out = []
    for seq, zi, pid in zip(seqs, z, request.ids, strict=True):
        features = dict(analysis.features(seq, instrument))
        if chords is not None and not request.infer_chords:
            features[CHORD_FIT] = float(analysis.chord_fit(seq, chords))
        out.append(
            Phrase(
                instrument=instrument,
                z=np.asarray(zi, dtype=np.float64),
                notes=notes_from_sequence(seq),
                intensity=float(analysis.intensity(seq, instrument)),
                features=features,
                chords=tuple(analysis.chords(seq)) if request.infer_chords else tuple(chords or ()),
                id=pid,
            )
        )
    return out


class Executor(Protocol):
    """Where a model runs. ``decode`` is awaited on the event loop; ``close`` blocks: call it
    from a worker thread."""

    @property
    def info(self) -> ModelInfo:
        """The loaded model's instrument, latent size and tension vector."""
        ...

    async def decode(self, request: DecodeRequest) -> list[Phrase]:
        """Decode and measure ``request``, the model's work off the event loop. A decode that
        is cancelled may leave the executor unusable (a worker's reply half read): the runner
        closes it then. A model in this process cannot be interrupted: its decode runs to its
        end whatever the cancellation."""
        ...

    def close(self) -> None:
        """Stop and free the model (blocking, idempotent)."""
        ...


class ThreadExecutor:
    """A model loaded in this process, decoding in the calling thread (the GIL is shared with the
    event loop: see ``ProcessExecutor`` for why that is not the default)."""

    def __init__(self, model: InstrumentModelLike, analysis: PhraseAnalysis) -> None:
        self.model = model
        self.analysis = analysis
        self.info = ModelInfo.of(model)

    async def decode(self, request: DecodeRequest) -> list[Phrase]:
        """Decode and measure ``request`` in a trio worker thread; it runs to its end even when
        cancelled (nothing can stop a model call in this process)."""
        return await trio.to_thread.run_sync(decode_phrases, self.model, self.analysis, request)

    def close(self) -> None:
        """Free the model."""
        self.model.close()


RestartExecutor = Callable[[], Awaitable[Executor]]
"""Opens a fresh executor for the same model (a restart); raises what opening raises."""


class WorkerHungError(Exception):
    """A model did not answer one decode within the runner's ``decode_timeout`` (seconds)."""


class ModelUnavailableError(Exception):
    """The model's executor failed and could not be restarted yet; the message says why."""


class ModelRunner:
    """One model behind an async, batched ``decode``, whatever executor it runs on.

    ``phrases_decoded`` and ``decode_seconds`` (trio time spent waiting for decodes, seconds)
    count what it did; with ``metrics``, each successful decode's duration also goes into its
    ``decode_seconds`` histogram. ``limiter`` keeps one request in flight. With ``restart`` it
    supervises its executor (module docstring): ``decode_timeout`` (seconds, ``None`` = wait
    forever) bounds each decode, ``restarts`` counts the faults, also counted in ``metrics`` as
    ``worker_restarts``.
    """

    def __init__(
        self,
        executor: Executor,
        *,
        restart: RestartExecutor | None = None,
        decode_timeout: float | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.executor = executor
        self.limiter = trio.CapacityLimiter(1)
        self.phrases_decoded = 0
        self.decode_seconds = 0.0
        self.restart = restart
        self.decode_timeout = decode_timeout
        self.metrics = metrics
        self.restarts = 0
        self._down: str | None = None  # why the executor is unusable, until a restart works
        self._retry_at = -math.inf
        self._backoff = RESTART_BACKOFF_S[0]
        self._restarted_at = -math.inf

    @property
    def info(self) -> ModelInfo:
        """The current executor's model info."""
        return self.executor.info

    @property
    def instrument(self) -> Instrument:
        """Which instrument the model plays."""
        return self.executor.info.instrument

    @property
    def z_size(self) -> int:
        """Latent size."""
        return self.executor.info.z_size

    @property
    def tension_vector(self) -> npt.NDArray[np.float64]:
        """``[z_size]`` float64: the bundle's tension attribute vector."""
        return self.executor.info.tension_vector

    async def decode(self, request: DecodeRequest) -> list[Phrase]:
        """Decode ``request`` into measured phrases, off the trio thread.

        Raises what the executor raises: the model's own errors (``ValueError`` for chords it
        cannot encode), ``WorkerDiedError`` when a worker process is gone,
        :class:`WorkerHungError` past ``decode_timeout``; with ``restart``, the executor has been
        restarted by the time a fault is raised (:class:`ModelUnavailableError` while it cannot
        be).
        """
        async with self.limiter:
            if self._down is not None:
                await self._try_restart()
            executor = self.executor
            started = trio.current_time()
            phrases, error, hung = await self._decode_watched(executor, request)
            took = trio.current_time() - started
            self.decode_seconds += took
            if hung:
                await self._fault(executor, "hung", f"no reply within {self.decode_timeout} s")
                raise WorkerHungError(
                    f"model {self.instrument} gave no reply within {self.decode_timeout} s"
                ) from error
            if error is not None:
                if not isinstance(error, ValueError):
                    await self._fault(executor, type(error).__name__, str(error))
                raise error
            self.phrases_decoded += len(phrases)
            if self.metrics is not None:
                self.metrics.decode_seconds.labels(self.instrument).observe(took)
            return phrases

    async def _decode_watched(
        self, executor: Executor, request: DecodeRequest
    ) -> tuple[list[Phrase], Exception | None, bool]:
        """The executor's decode; with a ``decode_timeout`` (and ``restart``), a call that
        overruns it is cancelled and the executor closed (a hung worker process is killed).
        Returns the phrases, the exception raised instead, and whether it overran.

        A deadline on the call, not a watchdog task beside it: this runs for every batch, and
        a nursery of two tasks took the event loop 490 µs of CPU per batch, this takes 320 µs.
        The shield keeps an outside cancellation waiting for the decode: one cancelled for any
        other reason than its deadline would leave a worker's reply unread, and the executor
        out of step, for nothing."""
        timeout = self.decode_timeout if self.restart is not None else None
        with trio.CancelScope(shield=True):
            with trio.move_on_after(math.inf if timeout is None else timeout):
                try:
                    # a decode in this process runs to its end even past the deadline
                    phrases = await executor.decode(request)
                except Exception as exc:
                    return [], exc, False
                return phrases, None, False
            # past the deadline (the only way here): the cancelled decode left the worker's
            # reply unread; closing the executor kills the worker
            await trio.to_thread.run_sync(executor.close)
        return [], None, True

    async def _fault(self, executor: Executor, kind: str, reason: str) -> None:
        """Count and log a fault, close ``executor`` and open a fresh one (without ``restart``,
        count and log only: the failure stands)."""
        self.restarts += 1
        if self.metrics is not None:
            self.metrics.inc("worker_restarts")
        if self.restart is None:
            log.error("model_failed", instrument=self.instrument, fault=kind, reason=reason)
            return
        log.error("model_worker_restarting", instrument=self.instrument, fault=kind, reason=reason)
        await trio.to_thread.run_sync(executor.close)
        self._down = f"{kind}: {reason}"
        now = trio.current_time()
        if now - self._restarted_at < RESTART_BACKOFF_S[1]:
            # failing again soon after a restart: a model that fails on every decode must not
            # respawn its worker on every retry, so wait longer each time
            self._retry_at = now + self._backoff
            self._backoff = min(RESTART_BACKOFF_S[1], self._backoff * 2)
        else:
            self._retry_at = -math.inf
            self._backoff = RESTART_BACKOFF_S[0]
        await self._try_restart(raising=False)

    async def _try_restart(self, *, raising: bool = True) -> None:
        """Open a fresh executor if the backoff allows; on failure note when to try again and
        (``raising``) raise :class:`ModelUnavailableError`."""
        assert self.restart is not None
        assert self._down is not None
        now = trio.current_time()
        if now < self._retry_at:
            if raising:
                raise ModelUnavailableError(f"model {self.instrument} is down ({self._down})")
            return
        started = now
        try:
            fresh = await self.restart()
        except Exception as exc:
            self._retry_at = trio.current_time() + self._backoff
            log.error(
                "model_worker_restart_failed",
                instrument=self.instrument,
                error=str(exc),
                retry_in_s=self._backoff,
            )
            self._backoff = min(RESTART_BACKOFF_S[1], self._backoff * 2)
            if raising:
                raise ModelUnavailableError(
                    f"model {self.instrument} is down ({self._down}); restart failed: {exc}"
                ) from exc
            return
        self.executor = fresh
        self._down = None
        self._restarted_at = trio.current_time()
        log.info(
            "model_worker_restarted",
            instrument=self.instrument,
            restart_s=round(trio.current_time() - started, 3),
        )

    async def replace(self, executor: Executor) -> None:
        """Swap in ``executor`` once no decode is in flight, then close the old one (off the
        trio thread)."""
        async with self.limiter:
            old, self.executor = self.executor, executor
            self._down = None
            await trio.to_thread.run_sync(old.close)

    def close(self) -> None:
        """Close the executor (blocking)."""
        self.executor.close()
