"""Where the daemon's models come from: model bundles opened on the configured executors.

An :data:`ExecutorSource` opens a fresh executor for each instrument asked for; the daemon calls
it for all three at start and again on every reload (SIGHUP), so a reload is the same code path as
a start and a failed one leaves the running executors untouched, and for one instrument when its
model worker is restarted (no other model is loaded for it). :func:`bundle_executors` is the
production source: the bundles under ``settings.models``, each in its own worker process
(``model_execution = "process"``) or in this process (``"thread"``), decoded by their ONNX
decoders or their TF checkpoints (``model_backend``). Tests pass sources of fake
models (``metalosc.server.testing``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from pathlib import Path

import trio
from metalosc.protocol import INSTRUMENTS, Instrument
from metalosc.runtime import Backend

from ._runner import Executor, InstrumentModelLike, ThreadExecutor, model_analysis
from ._settings import Settings
from ._worker import bundle_factories, start_process_executors

__all__ = ["ExecutorSource", "bundle_executors", "load_models"]

ExecutorSource = Callable[[Collection[Instrument]], Awaitable[Mapping[Instrument, Executor]]]
"""Opens one executor for each instrument asked for (in the order of ``INSTRUMENTS``); raises
``ModelBundleError`` naming a broken bundle file."""


def load_models(
    models_dir: Path, backend: Backend = "auto", instruments: Collection[Instrument] = INSTRUMENTS
) -> dict[Instrument, InstrumentModelLike]:
    """Load the bundles ``models_dir/{guitar,bass,drums}`` of ``instruments`` (all three by
    default) in this process on ``backend`` (blocking; see
    :class:`~metalosc.server.BundleModelFactory` for the backends).

    Raises ``ModelBundleError`` naming the broken file; models loaded before it are closed."""
    from metalosc.runtime import load_instrument_model

    models: dict[Instrument, InstrumentModelLike] = {}
    try:
        for instrument in (i for i in INSTRUMENTS if i in instruments):
            models[instrument] = load_instrument_model(models_dir / instrument, backend)
    except BaseException:
        for model in models.values():
            model.close()
        raise
    return models


def bundle_executors(settings: Settings) -> ExecutorSource:
    """The bundles under ``settings.models`` on ``settings.model_execution``'s executors."""

    async def open_executors(instruments: Collection[Instrument]) -> Mapping[Instrument, Executor]:
        # the workers' checks first (a broken bundle, TensorFlow needed but not installed)
        factories = bundle_factories(settings.models, settings.model_backend)
        wanted = [i for i in INSTRUMENTS if i in instruments]
        if settings.model_execution == "process":
            return await start_process_executors(
                {i: factories[i] for i in wanted},
                log_format=settings.log_format,
                log_level=settings.log_level,
            )
        models = await trio.to_thread.run_sync(
            load_models, settings.models, settings.model_backend, wanted
        )
        analysis = model_analysis()
        return {i: ThreadExecutor(models[i], analysis) for i in wanted}

    return open_executors
