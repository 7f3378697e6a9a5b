"""``metalosc.server``: the trio daemon that plays MusicVAE phrases to OSC subscribers."""

from ._app import RunningServer, load_models, reload_models, serve
from ._buffer import PhraseBuffer
from ._clock import Anchor, BeatClock
from ._conductor import Conductor, ConductorError, Interpolation, PhraseSet, slerp
from ._control import Controller
from ._generation import Generator, InstrumentModelLike, ModelRunner, PhraseAnalysis
from ._logging import configure_logging
from ._metrics import Metrics
from ._notify import SystemdNotifier
from ._phrase import PHRASE_BEATS, Phrase, PhraseNote, notes_from_sequence
from ._ratelimit import PeerRateLimiter, TokenBucket
from ._scheduler import Cue, Player, cues_for, render
from ._settings import ConfigError, Settings, load_settings
from ._state import MusicState
from ._subscriptions import Subscription, Subscriptions
from ._transport import UdpEndpoint, open_udp

__all__ = [
    "PHRASE_BEATS",
    "Anchor",
    "BeatClock",
    "Conductor",
    "ConductorError",
    "ConfigError",
    "Controller",
    "Cue",
    "Generator",
    "InstrumentModelLike",
    "Interpolation",
    "Metrics",
    "ModelRunner",
    "MusicState",
    "PeerRateLimiter",
    "Phrase",
    "PhraseAnalysis",
    "PhraseBuffer",
    "PhraseNote",
    "PhraseSet",
    "Player",
    "RunningServer",
    "Settings",
    "Subscription",
    "Subscriptions",
    "SystemdNotifier",
    "TokenBucket",
    "UdpEndpoint",
    "configure_logging",
    "cues_for",
    "load_models",
    "load_settings",
    "notes_from_sequence",
    "open_udp",
    "reload_models",
    "render",
    "serve",
    "slerp",
]
