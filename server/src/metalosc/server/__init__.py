"""``metalosc.server``: the trio daemon that plays MusicVAE phrases to OSC subscribers."""

from ._app import RunningServer, load_models, reload_models, serve
from ._buffer import PhraseBuffer
from ._clock import Anchor, BeatClock
from ._conductor import Conductor, ConductorError, Interpolation, PhraseSet
from ._control import Controller
from ._generation import Generator, InstrumentModelLike, ModelRunner, PhraseAnalysis, Runner
from ._logging import configure_logging
from ._metrics import Metrics
from ._notify import SystemdNotifier
from ._ratelimit import PeerRateLimiter, TokenBucket
from ._scheduler import Cue, Player, cues_for, render
from ._settings import ConfigError, Settings, load_settings
from ._state import MusicState
from ._subscriptions import Subscription, Subscriptions
from ._transport import UdpEndpoint, open_udp
from ._worker import (
    BundleModelFactory,
    ModelFactory,
    ModelWorker,
    ProcessModelRunner,
    WorkerDiedError,
    WorkerError,
    start_workers,
)

__all__ = [
    "Anchor",
    "BeatClock",
    "BundleModelFactory",
    "Conductor",
    "ConductorError",
    "ConfigError",
    "Controller",
    "Cue",
    "Generator",
    "InstrumentModelLike",
    "Interpolation",
    "Metrics",
    "ModelFactory",
    "ModelRunner",
    "ModelWorker",
    "MusicState",
    "PeerRateLimiter",
    "PhraseAnalysis",
    "PhraseBuffer",
    "PhraseSet",
    "Player",
    "ProcessModelRunner",
    "Runner",
    "RunningServer",
    "Settings",
    "Subscription",
    "Subscriptions",
    "SystemdNotifier",
    "TokenBucket",
    "UdpEndpoint",
    "WorkerDiedError",
    "WorkerError",
    "configure_logging",
    "cues_for",
    "load_models",
    "load_settings",
    "open_udp",
    "reload_models",
    "render",
    "serve",
    "start_workers",
]
