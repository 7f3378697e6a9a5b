"""Model execution in worker processes: one spawned process per model, behind a pipe.

Why: decoding is mostly Python around the TF call — NoteSequence conversion, note_seq's chord
inference (pure Python, up to ~0.8 s a call), features — and in a worker *thread* all of it holds
the daemon's GIL, so the event loop waited 10-17 ms (p99) to answer a ping while the three models
decoded (bench/ping_latency.py, 2 busy cores). In a worker process the daemon only pickles a batch
of latents out and a batch of measured ``Phrase``s (plain dataclasses, notes in musical time)
back, TensorFlow is never imported in the daemon, and the workers run at a lower CPU priority
(``WORKER_NICE``): the same benchmark then answers in under 2 ms (p99).

Each worker is a ``spawn``ed process (never ``fork`` a process that may hold TF's threads); it loads
its model from a picklable *factory*, answers ``decode`` requests one at a time, and exits when the
daemon sends ``None`` or its end of the pipe closes (so a killed daemon leaves no orphans). An
exception in the worker is re-raised in the daemon as itself (a ``ValueError`` stays a
``ValueError``: the bass falls back to "no chord" on it) with the worker's traceback as its cause; a
worker that dies makes the call raise ``WorkerDiedError`` at once instead of hanging.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import structlog
import trio
from metalosc.protocol import INSTRUMENTS, Instrument, check_model_bundle, load_manifest
from metalosc.runtime import Phrase, ZVector

from ._generation import InstrumentModelLike, PhraseAnalysis, decode_phrases
from ._logging import configure_logging

__all__ = [
    "BundleModelFactory",
    "ModelFactory",
    "ModelWorker",
    "ProcessModelRunner",
    "WorkerDiedError",
    "WorkerError",
    "bundle_factories",
    "start_workers",
]

log = structlog.get_logger("metalosc.server.worker")

_CONTEXT = multiprocessing.get_context("spawn")
CLOSE_TIMEOUT_S = 2.0  # a worker finishing its decode and freeing its TF session
WORKER_NICE = 10
"""Workers run at a lower CPU priority than the daemon: decoding is background work with a
buffer ahead of it, answering a ping is not; on a busy machine the scheduler then runs the event
loop first instead of making it wait behind a decode for its time slice."""

LogFormat = Literal["auto", "console", "json"]


class WorkerError(Exception):
    """An exception raised in a worker; the message carries the worker's traceback text.

    Raised as such when the original exception cannot be pickled, else set as the ``__cause__``
    of the original exception re-raised in the daemon.
    """


class WorkerDiedError(Exception):
    """A model worker process exited (crashed, killed) while the daemon needed it."""

    def __init__(self, name: str, exitcode: int | None) -> None:
        super().__init__(name, exitcode)
        self.name = name
        self.exitcode = exitcode

    def __str__(self) -> str:
        how = "is gone" if self.exitcode is None else f"exited with code {self.exitcode}"
        return f"model worker {self.name} {how}"


class ModelFactory(Protocol):
    """Builds a worker's model and analysis *inside* the worker; must be picklable."""

    def load_model(self) -> InstrumentModelLike: ...
    def load_analysis(self) -> PhraseAnalysis: ...


@dataclass(frozen=True)
class BundleModelFactory:
    """The production factory: ``InstrumentModel.load(bundle_dir)`` and the training analysis.

    ``tf_threads`` caps TF's intra- and inter-op thread pools of the worker: three workers share
    the machine's cores, and per-call pools as large as the machine only fight each other.
    """

    bundle_dir: Path
    tf_threads: int | None = 1

    def load_model(self) -> InstrumentModelLike:
        import tensorflow as tf
        from metalosc.runtime import InstrumentModel

        if self.tf_threads is not None:  # before the first session exists, or it has no effect
            tf.config.threading.set_intra_op_parallelism_threads(self.tf_threads)
            tf.config.threading.set_inter_op_parallelism_threads(self.tf_threads)
        return InstrumentModel.load(self.bundle_dir)

    def load_analysis(self) -> PhraseAnalysis:
        from ._generation import training_analysis

        return training_analysis()


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker tells the daemon once its model is loaded."""

    instrument: Instrument
    z_size: int
    tension_vector: npt.NDArray[Any]


DecodeRequest = tuple[ZVector, float, list[str] | None, list[int], bool]


def _portable(exc: BaseException) -> tuple[BaseException | None, str]:
    """``exc`` if it survives pickling (else ``None``), and the worker's traceback text."""
    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return None, text
    return exc, text


def _worker_main(
    conn: Connection, factory: ModelFactory, log_format: LogFormat, log_level: str
) -> None:
    """The worker process: load, say ready, then answer decode requests until told to stop."""
    # The daemon stops its workers itself, after its graceful stop; a terminal's Ctrl-C or
    # systemd's SIGTERM to the whole control group must not kill a decode in flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.nice(WORKER_NICE)
    configure_logging(log_format, log_level)
    code = 1
    try:
        _serve_requests(conn, factory)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        # Skip the interpreter's teardown: TensorFlow's thread pools can take seconds to wind
        # down at exit; everything that matters (the model, the pipe) is closed by now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _serve_requests(conn: Connection, factory: ModelFactory) -> None:
    """Load the model (or report why not), then one reply per request until told to stop."""
    try:
        model = factory.load_model()
        analysis = factory.load_analysis()
    except BaseException as exc:
        conn.send(("error", *_portable(exc)))
        return
    try:
        info = WorkerInfo(
            model.instrument, int(model.z_size), np.asarray(model.tension_vector, np.float64)
        )
        conn.send(("ok", info))
        while True:
            try:
                request: DecodeRequest | None = conn.recv()
            except EOFError:  # the daemon is gone
                break
            if request is None:
                break
            try:
                reply: tuple[Any, ...] = ("ok", decode_phrases(model, analysis, *request))
            except Exception as exc:
                reply = ("error", *_portable(exc))
            conn.send(reply)
    except OSError:  # the daemon closed the pipe while we answered
        pass
    finally:
        model.close()
        conn.close()


class ModelWorker:
    """One model in one spawned process. Its methods block: call them from a worker thread."""

    def __init__(
        self,
        factory: ModelFactory,
        name: str,
        *,
        log_format: LogFormat = "json",
        log_level: str = "info",
    ) -> None:
        """Spawn the process and wait until its model is loaded; a load error (``ModelBundleError``
        naming the file) is re-raised here and the process is gone."""
        self.name = name
        self._conn, child = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(
            target=_worker_main,
            args=(child, factory, log_format, log_level),
            name=f"metalosc-{name}",
            daemon=True,  # a safety net: never outlive the daemon
        )
        self.process.start()
        child.close()  # only the worker holds its end: its exit is our EOF
        self._closed = False
        self.exitcode: int | None = None  # once closed
        # Workers ignore SIGTERM, so multiprocessing's own exit handler (terminate, then join)
        # would wait on them forever: close them first (atexit runs the later-registered first).
        atexit.register(self.close)
        try:
            self.info: WorkerInfo = self._receive()
        except BaseException:
            self.close()
            raise
        log.info("model_worker_started", worker=name, pid=self.process.pid)

    def call(self, request: DecodeRequest) -> list[Phrase]:
        """One decode: send the request, wait for the phrases (or the worker's exception)."""
        try:
            self._conn.send(request)
        except OSError:
            raise self._died() from None
        result: list[Phrase] = self._receive()
        return result

    def _receive(self) -> Any:
        try:
            status, *payload = self._conn.recv()
        except (EOFError, OSError):
            raise self._died() from None
        if status == "ok":
            return payload[0]
        exc, text = payload
        if exc is None:
            raise WorkerError(f"in model worker {self.name}:\n{text}")
        raise exc from WorkerError(f"in model worker {self.name}:\n{text}")

    def _died(self) -> WorkerDiedError:
        self.process.join(timeout=1.0)
        error = WorkerDiedError(self.name, self.process.exitcode)
        log.error("model_worker_died", worker=self.name, exitcode=self.process.exitcode)
        return error

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Ask the worker to stop, wait ``timeout`` seconds, then kill it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self.process.join(timeout)
        if self.process.is_alive():
            log.warning("model_worker_killed", worker=self.name, timeout_s=timeout)
            self.process.kill()
            self.process.join()
        self.exitcode = self.process.exitcode
        self._conn.close()
        self.process.close()


class ProcessModelRunner:
    """A ``Runner`` whose model lives in a ``ModelWorker`` process.

    The call waits in a trio worker thread on the pipe (blocked in ``recv``, not holding the GIL);
    ``limiter`` keeps one request in flight per worker, as the TF session is not thread-safe.
    """

    def __init__(self, worker: ModelWorker) -> None:
        self.worker = worker
        self.instrument: Instrument = worker.info.instrument
        self.limiter = trio.CapacityLimiter(1)
        self.phrases_decoded = 0
        self.decode_seconds = 0.0

    @property
    def z_size(self) -> int:
        return self.worker.info.z_size

    @property
    def tension_vector(self) -> npt.NDArray[Any]:
        return self.worker.info.tension_vector

    def sample_z(self, n: int, rng: np.random.Generator) -> npt.NDArray[Any]:
        """[n, z_size] latents from the prior N(0, I), drawn here (as the model itself would)."""
        return rng.standard_normal((n, self.z_size)).astype(np.float32)

    async def decode(
        self,
        z: ZVector,
        temperature: float,
        chords: Sequence[str] | None,
        ids: Sequence[int],
        *,
        with_chords: bool = False,
    ) -> list[Phrase]:
        """Decode a batch of latents into measured phrases in the worker process."""
        request: DecodeRequest = (
            np.asarray(z, dtype=np.float64),
            float(temperature),
            None if chords is None else list(chords),
            list(ids),
            with_chords,
        )
        started = trio.current_time()
        phrases = await trio.to_thread.run_sync(self.worker.call, request, limiter=self.limiter)
        self.decode_seconds += trio.current_time() - started
        self.phrases_decoded += len(phrases)
        return phrases

    def replace(self, worker: ModelWorker) -> ModelWorker:
        """Swap in a reloaded worker (hold ``limiter``); returns the old one for the caller to
        close."""
        old, self.worker = self.worker, worker
        self.instrument = worker.info.instrument
        return old

    def close(self) -> None:
        self.worker.close()


async def start_workers(
    factories: Mapping[Instrument, ModelFactory],
    *,
    log_format: LogFormat = "json",
    log_level: str = "info",
) -> dict[Instrument, ModelWorker]:
    """Start one worker per instrument, concurrently; if any fails to load, stop the others and
    raise its error itself (a ``ModelBundleError`` names the broken file), not an exception
    group."""
    workers: dict[Instrument, ModelWorker] = {}
    errors: list[BaseException] = []

    async def start(instrument: Instrument) -> None:
        make: Callable[[], ModelWorker] = lambda: ModelWorker(  # noqa: E731
            factories[instrument], instrument, log_format=log_format, log_level=log_level
        )
        try:
            workers[instrument] = await trio.to_thread.run_sync(make)
        except Exception as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        for instrument in factories:
            nursery.start_soon(start, instrument)
    if errors:
        for worker in workers.values():
            await trio.to_thread.run_sync(worker.close)
        raise errors[0]
    return {i: workers[i] for i in factories}


def bundle_factories(models_dir: Path) -> dict[Instrument, ModelFactory]:
    """The production factories for ``models_dir/{guitar,bass,drums}``.

    Each bundle's manifest and files are checked here first (milliseconds, no TensorFlow), so a
    broken bundle is a ``ModelBundleError`` naming the file at once, not after three workers have
    imported TensorFlow; what only loading can find is still raised by the worker's start.
    """
    for instrument in INSTRUMENTS:
        bundle_dir = models_dir / instrument
        check_model_bundle(bundle_dir, load_manifest(bundle_dir))
    return {i: BundleModelFactory(models_dir / i) for i in INSTRUMENTS}
