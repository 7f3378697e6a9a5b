"""``metalosc.server``: the trio daemon that plays MusicVAE phrases to OSC subscribers.

The data path, module by module (``docs/architecture.md`` draws it):
UDP datagram (``_udp``) → typed message (``metalosc.protocol``) → :class:`Controller` →
:class:`Controls` / :class:`BeatClock` / :class:`Transport` / :class:`Conductor` → at every
2-bar slot the conductor picks from the :class:`PhraseBuffer`\\ s that the :class:`Generator`
keeps full through the :class:`ModelRunner`\\ s (one model per worker process) → cues
(``_cues``) → timetagged OSC bundles through the :class:`Outbox`.

Modules are private; the public names are re-exported here. Test support is in
:mod:`metalosc.server.testing`.
"""

from ._access import AccessList
from ._app import (
    LIVE_SETTINGS,
    START_SETTINGS,
    GraceExpiredError,
    RunningServer,
    form_rules,
    reload_models,
    serve,
)
from ._buffer import PhraseBuffer
from ._clock import Anchor, BeatClock
from ._conductor import (
    BarPlan,
    Conductor,
    ConductorError,
    FormRules,
    Interpolation,
    PhraseSet,
    Scene,
    Section,
    SectionOrder,
)
from ._control import Controller
from ._controls import Controls
from ._cues import Cue, cue_messages, cues_for
from ._generation import Generator
from ._logging import configure_logging
from ._metrics import Metrics
from ._models import ExecutorSource, bundle_executors, load_models
from ._notify import SystemdNotifier
from ._outbox import Outbox
from ._perform import Performed, perform
from ._ping import PingError, ping, ping_address
from ._ratelimit import PeerRateLimiter, TokenBucket
from ._runner import (
    DecodeRequest,
    Executor,
    InstrumentModelLike,
    ModelInfo,
    ModelRunner,
    ModelUnavailableError,
    PhraseAnalysis,
    RestartExecutor,
    ThreadExecutor,
    WorkerHungError,
    decode_phrases,
    model_analysis,
)
from ._scheduled import BundleRefusedError, ScheduledBundles
from ._settings import (
    LOOPBACK,
    ConfigError,
    ConfigProblem,
    ExplainedSettings,
    Settings,
    explain_settings,
    load_settings,
)
from ._subscriptions import Mode, Subscription, SubscriptionRefusedError, Subscriptions
from ._transport import Transport
from ._udp import Peer, UdpEndpoint, adopt_udp, open_udp
from ._worker import (
    BundleModelFactory,
    ModelFactory,
    ProcessExecutor,
    WorkerDiedError,
    WorkerError,
    bundle_factories,
    start_process_executors,
)

__all__ = [
    "LIVE_SETTINGS",
    "LOOPBACK",
    "START_SETTINGS",
    "AccessList",
    "Anchor",
    "BarPlan",
    "BeatClock",
    "BundleModelFactory",
    "BundleRefusedError",
    "Conductor",
    "ConductorError",
    "ConfigError",
    "ConfigProblem",
    "Controller",
    "Controls",
    "Cue",
    "DecodeRequest",
    "Executor",
    "ExecutorSource",
    "ExplainedSettings",
    "FormRules",
    "Generator",
    "GraceExpiredError",
    "InstrumentModelLike",
    "Interpolation",
    "Metrics",
    "Mode",
    "ModelFactory",
    "ModelInfo",
    "ModelRunner",
    "ModelUnavailableError",
    "Outbox",
    "Peer",
    "PeerRateLimiter",
    "Performed",
    "PhraseAnalysis",
    "PhraseBuffer",
    "PhraseSet",
    "PingError",
    "ProcessExecutor",
    "RestartExecutor",
    "RunningServer",
    "Scene",
    "ScheduledBundles",
    "Section",
    "SectionOrder",
    "Settings",
    "Subscription",
    "SubscriptionRefusedError",
    "Subscriptions",
    "SystemdNotifier",
    "ThreadExecutor",
    "TokenBucket",
    "Transport",
    "UdpEndpoint",
    "WorkerDiedError",
    "WorkerError",
    "WorkerHungError",
    "adopt_udp",
    "bundle_executors",
    "bundle_factories",
    "configure_logging",
    "cue_messages",
    "cues_for",
    "decode_phrases",
    "explain_settings",
    "form_rules",
    "load_models",
    "load_settings",
    "model_analysis",
    "open_udp",
    "perform",
    "ping",
    "ping_address",
    "reload_models",
    "serve",
    "start_process_executors",
]
