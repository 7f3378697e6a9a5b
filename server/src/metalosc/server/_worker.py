"""Model execution in worker processes: one spawned process per model, behind a socket pair.

Why: decoding is mostly Python around the model call — event-to-note conversion, chord inference,
features — and in a worker *thread* all of it holds
the daemon's GIL, so the event loop waited 10-17 ms (p99) to answer a ping while the three models
decoded (``bench/ping_latency.py``, 2 busy cores). In a worker process the daemon only pickles a
:class:`~metalosc.server.DecodeRequest` out and measured :class:`~metalosc.runtime.Phrase`\\ s
back, no model framework is imported in the daemon, and the workers run at a lower CPU priority
(:data:`WORKER_NICE`): the same benchmark then answers in under 2 ms (p99).

Each worker is a ``spawn``\\ ed process (never ``fork`` a process that may hold TF's threads)
behind a socket pair; it loads its model from a picklable :class:`ModelFactory`, says
:class:`WorkerReady`, answers each request with a :class:`DecodeReply` followed by its phrases one
message each (see there why) or with a :class:`WorkerFailure`, and exits when its end of the pair
reads end-of-file: the daemon shut its side, or died (so a killed daemon leaves no orphans). Each
message is a pickle behind an 8-byte length (:func:`_send_message`). An exception in the worker is
re-raised in the daemon as itself (a ``ValueError`` stays a ``ValueError``: the bass falls back to
"no chord" on it) with the worker's traceback as its cause; a worker that dies makes the call raise
:class:`WorkerDiedError` at once instead of hanging.

The daemon's side of a decode runs on its event loop, not in a thread
(:meth:`ProcessExecutor.decode` says why).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import structlog
import trio
from metalosc.protocol import (
    INSTRUMENTS,
    MANIFEST_FILE,
    Instrument,
    ModelBundleError,
    check_model_bundle,
    load_manifest,
)
from metalosc.runtime import Backend, Phrase

from ._logging import configure_logging
from ._runner import (
    DecodeRequest,
    InstrumentModelLike,
    ModelInfo,
    PhraseAnalysis,
    decode_phrases,
    model_analysis,
)

__all__ = [
    "BundleModelFactory",
    "DecodeReply",
    "ModelFactory",
    "ProcessExecutor",
    "WorkerDiedError",
    "WorkerError",
    "WorkerFailure",
    "WorkerReady",
    "bundle_factories",
    "start_process_executors",
]

log = structlog.get_logger("metalosc.server.worker")

_CONTEXT = multiprocessing.get_context("spawn")
CLOSE_TIMEOUT_S = 2.0
"""Seconds a worker may take to finish its decode and free its model when told to stop."""
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

    def load_model(self) -> InstrumentModelLike:
        """Load the model (in the worker); raises ``ModelBundleError`` naming a broken file."""
        ...

    def load_analysis(self) -> PhraseAnalysis:
        """The measures the worker applies to each decoded phrase."""
        ...


@dataclass(frozen=True)
class BundleModelFactory:
    """The production factory: the bundle ``bundle_dir`` on ``backend`` and the runtime's
    analysis.

    ``backend`` ``auto`` runs the bundle's ONNX decoder on ONNX Runtime when its manifest lists
    one (the worker then never imports TensorFlow, Magenta or note_seq) and its TF checkpoint
    otherwise (:meth:`metalosc.runtime.InstrumentModel.load`); ``onnx`` and ``tf`` insist.
    ``threads`` caps the worker's ONNX Runtime or TF thread pools: three workers share the
    machine's cores, and per-call pools as large as the machine only fight each other.
    """

    bundle_dir: Path
    threads: int | None = 1
    backend: Backend = "auto"

    def load_model(self) -> InstrumentModelLike:
        """Load the bundle (raises ``ModelBundleError`` naming the broken file)."""
        from metalosc.runtime import load_instrument_model

        backend = self.backend
        if backend == "auto":
            backend = "onnx" if load_manifest(self.bundle_dir).decoder is not None else "tf"
        if backend == "tf" and self.threads is not None:
            import tensorflow as tf

            # before the first session exists, or it has no effect
            tf.config.threading.set_intra_op_parallelism_threads(self.threads)
            tf.config.threading.set_inter_op_parallelism_threads(self.threads)
        model: InstrumentModelLike = load_instrument_model(
            self.bundle_dir, backend, threads=self.threads
        )
        return model

    def load_analysis(self) -> PhraseAnalysis:
        """The runtime's measures."""
        return model_analysis()


# -- what travels over the socket pair ----------------------------------------------------------


@dataclass(frozen=True)
class WorkerReady:
    """Worker → daemon, once: the model is loaded. ``modules``: the top-level packages the
    worker has imported by then (sorted), so the daemon can log, and tests check, that a
    worker decoding with ONNX Runtime never imported TensorFlow."""

    info: ModelInfo
    modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class DecodeReply:
    """Worker → daemon: one :class:`~metalosc.server.DecodeRequest` is answered; its ``count``
    phrases follow, one message each.

    Why one message per phrase: the daemon's event loop unpickles them, and answers control
    messages between two. A drum batch of 16 phrases in one message took ~0.5-0.9 ms to
    unpickle, a phrase takes tens of microseconds."""

    count: int


@dataclass(frozen=True)
class WorkerFailure:
    """Worker → daemon: loading or a request failed. ``exception`` is the original one when it
    survives pickling (else ``None``); ``traceback`` is the worker's traceback text."""

    exception: BaseException | None
    traceback: str

    @classmethod
    def of(cls, exc: BaseException) -> WorkerFailure:
        """The failure of ``exc``, with its traceback."""
        text = "".join(traceback.format_exception(exc))
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            return cls(None, text)
        return cls(exc, text)


_LENGTH = struct.Struct("!Q")
"""The header of every message on a worker's socket pair: its pickle's length in bytes."""


def _frame(message: object) -> bytes:
    """``message`` as sent: its pickle behind its length."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(payload)) + payload


def _send_message(sock: socket.socket, message: object) -> None:
    """Send ``message`` on the blocking ``sock``. Raises ``OSError`` when the other end is
    gone."""
    sock.sendall(_frame(message))


def _receive_message(sock: socket.socket) -> object:
    """The next message from the blocking ``sock``. Raises ``EOFError`` when the other end
    closed its side (between messages or within one), ``OSError`` when it broke."""
    (size,) = _LENGTH.unpack(_read_exactly(sock, _LENGTH.size))
    return pickle.loads(_read_exactly(sock, size))


def _read_exactly(sock: socket.socket, size: int) -> bytearray:
    data = bytearray(size)
    view = memoryview(data)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            raise EOFError("the other end closed its side")
        got += n
    return data


async def _send_message_async(sock: socket.socket, message: object) -> None:
    """:func:`_send_message` on the non-blocking ``sock``, waiting in trio when it is full."""
    data = memoryview(_frame(message))
    while data:
        try:
            sent = sock.send(data)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        data = data[sent:]


async def _receive_message_async(sock: socket.socket) -> object:
    """:func:`_receive_message` on the non-blocking ``sock``, waiting in trio for what has not
    arrived; unpickled on the calling (event loop) thread."""
    (size,) = _LENGTH.unpack(await _read_exactly_async(sock, _LENGTH.size))
    return pickle.loads(await _read_exactly_async(sock, size))


async def _read_exactly_async(sock: socket.socket, size: int) -> bytearray:
    data = bytearray(size)
    view = memoryview(data)
    got = 0
    while got < size:
        try:
            n = sock.recv_into(view[got:])
        except BlockingIOError:
            await trio.lowlevel.wait_readable(sock)
            continue
        if n == 0:
            raise EOFError("the other end closed its side")
        got += n
    return data


def _worker_main(
    sock: socket.socket, factory: ModelFactory, log_format: LogFormat, log_level: str
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
        _serve_requests(sock, factory)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        # Skip the interpreter's teardown: TensorFlow's thread pools (the TF backend) can take
        # seconds to wind down at exit; everything that matters (the model, the socket) is closed.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _libc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
        return trim
    except (OSError, AttributeError):  # not glibc
        return None


_malloc_trim = _libc_trim()


def _trim_heap() -> None:
    """Hands the heap's free pages back to the system. Loading a model and each decode's
    temporaries leave freed memory that glibc keeps mapped: a worker's resident size then
    holds its largest moment forever (about 15 MiB a worker); trimming costs well under a
    millisecond next to a decode's tens."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def _serve_requests(sock: socket.socket, factory: ModelFactory) -> None:
    """Load the model (or report why not), then one reply per request until the daemon's side
    of the pair closes."""
    try:
        model = factory.load_model()
        analysis = factory.load_analysis()
    except BaseException as exc:
        _send_message(sock, WorkerFailure.of(exc))
        return
    try:
        _trim_heap()
        modules = tuple(sorted({name.partition(".")[0] for name in list(sys.modules)}))
        _send_message(sock, WorkerReady(ModelInfo.of(model), modules))
        while True:
            try:
                request = _receive_message(sock)
            except EOFError:  # the daemon stopped us, or is gone
                break
            if not isinstance(request, DecodeRequest):
                raise TypeError(f"a worker is sent decode requests, not {type(request).__name__}")
            try:
                phrases = decode_phrases(model, analysis, request)
            except Exception as exc:
                _send_message(sock, WorkerFailure.of(exc))
            else:
                _send_message(sock, DecodeReply(len(phrases)))
                for phrase in phrases:
                    _send_message(sock, phrase)
            _trim_heap()
    except OSError:  # the daemon closed the pair while we answered
        pass
    finally:
        model.close()
        sock.close()


class ProcessExecutor:
    """One model in one spawned worker process (an :class:`~metalosc.server.Executor`).

    Starting (the constructor) and :meth:`close` block: call them from a worker thread.
    :meth:`decode` runs on the event loop.
    """

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
        self._sock, child = socket.socketpair()
        self.process = _CONTEXT.Process(
            target=_worker_main,
            args=(child, factory, log_format, log_level),
            name=f"metalosc-{name}",
            daemon=True,  # a safety net: never outlive the daemon
        )
        self.process.start()
        child.close()  # only the worker holds its end: its exit is our EOF
        self._closed = False
        # False while a decode's messages are under way, and after one stopped part-way (it
        # was cancelled): the next message on the pair would be an old reply's
        self._in_step = True
        # A decode that found the worker gone and a close from another thread (the daemon's
        # shutdown, atexit) may both wait for the process: one waitpid at a time, or the loser
        # sees no exit status.
        self._reaping = threading.Lock()
        self.exitcode: int | None = None  # once closed
        # Workers ignore SIGTERM, so multiprocessing's own exit handler (terminate, then join)
        # would wait on them forever: close them first (atexit runs the later-registered first).
        atexit.register(self.close)
        try:
            ready = self._receive_blocking()
        except BaseException:
            self.close()
            raise
        if not isinstance(ready, WorkerReady):
            self.close()
            raise WorkerError(f"model worker {name} said {type(ready).__name__} before ready")
        self._sock.setblocking(False)  # from here on, the event loop reads and writes it
        self.info: ModelInfo = ready.info
        self.modules: tuple[str, ...] = ready.modules
        """Top-level packages the worker had imported when its model was loaded."""
        log.info(
            "model_worker_started",
            worker=name,
            pid=self.process.pid,
            tensorflow="tensorflow" in ready.modules,
        )

    async def decode(self, request: DecodeRequest) -> list[Phrase]:
        """One decode: send the request, wait for the phrases (or the worker's exception),
        on the event loop.

        Why not in a thread, as an in-process model is: a thread hands each phrase to the loop
        through the GIL, and while it unpickles one the loop waits for the GIL — at a time the
        loop does not choose, and on a busy machine for as long as the scheduler keeps that
        thread off the CPU. Here the loop unpickles each phrase itself (tens of microseconds)
        and runs whatever else is due between two (``bench/ping_latency.py``, ONNX decoders
        flat out, five runs each: p99 to the socket, median 1.29 → 0.90 ms; the TF
        backend's 1.03 → 0.75 ms).

        Raises the worker's exception as itself, :class:`WorkerDiedError` when the worker is
        gone, :class:`WorkerError` for a worker out of step (a decode cancelled part-way left
        its reply unread: close it).
        """
        if not self._in_step:
            raise WorkerError(f"model worker {self.name} is out of step after a cancelled decode")
        self._in_step = False
        await self._send(request)
        reply = await self._receive()
        if not isinstance(reply, DecodeReply):
            raise WorkerError(f"model worker {self.name} answered {type(reply).__name__}")
        phrases: list[Phrase] = []
        for _ in range(reply.count):
            # the loop's other tasks run between two phrases even when the next has arrived
            await trio.lowlevel.checkpoint()
            phrase = await self._receive()
            if not isinstance(phrase, Phrase):
                raise WorkerError(f"model worker {self.name} sent {type(phrase).__name__}")
            phrases.append(phrase)
        self._in_step = True
        return phrases

    async def _send(self, request: DecodeRequest) -> None:
        try:
            await _send_message_async(self._sock, request)
        except OSError:
            raise await self._gone() from None

    async def _receive(self) -> WorkerReady | DecodeReply | Phrase:
        try:
            message = await _receive_message_async(self._sock)
        except (EOFError, OSError):
            raise await self._gone() from None
        return self._check(message)

    async def _gone(self) -> WorkerDiedError:
        self._in_step = True  # nothing more will come: a later decode finds the worker gone too
        return await trio.to_thread.run_sync(self._died)

    def _receive_blocking(self) -> WorkerReady | DecodeReply | Phrase:
        try:
            message = _receive_message(self._sock)
        except (EOFError, OSError):
            raise self._died() from None
        return self._check(message)

    def _check(self, message: object) -> WorkerReady | DecodeReply | Phrase:
        """``message`` as what the worker said; its :class:`WorkerFailure` raised as the
        worker's exception (a failure ends an exchange: the worker is in step again)."""
        if isinstance(message, WorkerFailure):
            self._in_step = True
            error = WorkerError(f"in model worker {self.name}:\n{message.traceback}")
            if message.exception is None:
                raise error
            raise message.exception from error
        if not isinstance(message, WorkerReady | DecodeReply | Phrase):
            raise WorkerError(f"model worker {self.name} sent {type(message).__name__}")
        return message

    def _died(self) -> WorkerDiedError:
        with self._reaping:
            self.process.join(timeout=1.0)
        error = WorkerDiedError(self.name, self.process.exitcode)
        log.error("model_worker_died", worker=self.name, exitcode=self.process.exitcode)
        return error

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Tell the worker to stop (our side of the pair shut: it reads end-of-file), wait
        ``timeout`` seconds, then kill it. Blocking; idempotent. Never while :meth:`decode`
        runs: the runner closes a worker once no decode waits on it."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)
        with self._reaping:
            self.process.join(timeout)
            if self.process.is_alive():
                log.warning("model_worker_killed", worker=self.name, timeout_s=timeout)
                self.process.kill()
                self.process.join()
        self.exitcode = self.process.exitcode
        self._sock.close()
        self.process.close()


async def start_process_executors(
    factories: Mapping[Instrument, ModelFactory],
    *,
    log_format: LogFormat = "json",
    log_level: str = "info",
) -> dict[Instrument, ProcessExecutor]:
    """Start one worker per instrument, concurrently; if any fails to load, stop the others and
    raise its error itself (a ``ModelBundleError`` names the broken file), not an
    exception group."""
    executors: dict[Instrument, ProcessExecutor] = {}
    errors: list[BaseException] = []

    def make(instrument: Instrument) -> ProcessExecutor:
        factory = factories[instrument]
        return ProcessExecutor(factory, instrument, log_format=log_format, log_level=log_level)

    async def start(instrument: Instrument) -> None:
        try:
            executors[instrument] = await trio.to_thread.run_sync(make, instrument)
        except Exception as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        for instrument in factories:
            nursery.start_soon(start, instrument)
    if errors:
        for executor in executors.values():
            await trio.to_thread.run_sync(executor.close)
        raise errors[0]
    return {i: executors[i] for i in factories}


def _tensorflow_installed() -> bool:
    """Whether TensorFlow can be imported here (a serving-only environment has none); looks
    without importing it."""
    return importlib.util.find_spec("tensorflow") is not None


def bundle_factories(models_dir: Path, backend: Backend = "auto") -> dict[Instrument, ModelFactory]:
    """The production factories for ``models_dir/{guitar,bass,drums}`` on ``backend``.

    Each bundle's manifest and files are checked here first (milliseconds, no model framework),
    so a broken bundle is a ``ModelBundleError`` naming the file at once, not after three workers
    have started; what only loading can find is still raised by the worker's start. ``onnx``
    refuses a bundle whose manifest lists no ONNX decoder here too.
    """
    for instrument in INSTRUMENTS:
        bundle_dir = models_dir / instrument
        manifest = load_manifest(bundle_dir)
        check_model_bundle(bundle_dir, manifest)
        if backend == "onnx" and manifest.decoder is None:
            raise ModelBundleError(
                bundle_dir / MANIFEST_FILE,
                "lists no ONNX decoder (re-export it: metalosc-train onnx; or serve with "
                "model_backend = 'tf')",
            )
        if (backend == "tf" or manifest.decoder is None) and not _tensorflow_installed():
            raise ModelBundleError(
                bundle_dir / MANIFEST_FILE,
                "needs TensorFlow (no ONNX decoder, or model_backend = 'tf'), which this "
                "serving environment lacks: re-export the bundle (metalosc-train onnx) or "
                "install metalosc-server[tf]",
            )
    return {i: BundleModelFactory(models_dir / i, backend=backend) for i in INSTRUMENTS}
