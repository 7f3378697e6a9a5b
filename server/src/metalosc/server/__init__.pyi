"""Types of ``metalosc.server``'s public names, and where each lives (read by mypy, and by
``lazy_loader.attach_stub`` to import each module on first use)."""

from ._access import AccessList as AccessList
from ._app import (
    LIVE_SETTINGS as LIVE_SETTINGS,
    START_SETTINGS as START_SETTINGS,
    GraceExpiredError as GraceExpiredError,
    RunningServer as RunningServer,
    form_rules as form_rules,
    reload_models as reload_models,
    serve as serve,
)
from ._buffer import PhraseBuffer as PhraseBuffer
from ._clock import Anchor as Anchor, BeatClock as BeatClock
from ._conductor import (
    BarPlan as BarPlan,
    Conductor as Conductor,
    ConductorError as ConductorError,
    FormRules as FormRules,
    Interpolation as Interpolation,
    PhraseSet as PhraseSet,
    Scene as Scene,
    Section as Section,
    SectionOrder as SectionOrder,
)
from ._control import Controller as Controller
from ._controls import Controls as Controls
from ._cues import Cue as Cue, cue_messages as cue_messages, cues_for as cues_for
from ._generation import Generator as Generator
from ._logging import configure_logging as configure_logging
from ._metrics import Metrics as Metrics
from ._models import (
    ExecutorSource as ExecutorSource,
    bundle_executors as bundle_executors,
    load_models as load_models,
)
from ._notify import SystemdNotifier as SystemdNotifier
from ._outbox import Outbox as Outbox
from ._perform import Performed as Performed, perform as perform
from ._ping import PingError as PingError, ping as ping, ping_address as ping_address
from ._ratelimit import PeerRateLimiter as PeerRateLimiter, TokenBucket as TokenBucket
from ._runner import (
    DecodeRequest as DecodeRequest,
    Executor as Executor,
    InstrumentModelLike as InstrumentModelLike,
    LatentDraw as LatentDraw,
    ModelInfo as ModelInfo,
    ModelRunner as ModelRunner,
    ModelUnavailableError as ModelUnavailableError,
    PhraseAnalysis as PhraseAnalysis,
    RestartExecutor as RestartExecutor,
    ThreadExecutor as ThreadExecutor,
    WorkerHungError as WorkerHungError,
    decode_phrases as decode_phrases,
    model_analysis as model_analysis,
)
from ._scheduled import (
    BundleRefusedError as BundleRefusedError,
    ScheduledBundles as ScheduledBundles,
)
from ._settings import (
    LOOPBACK as LOOPBACK,
    ConfigError as ConfigError,
    ConfigProblem as ConfigProblem,
    ExplainedSettings as ExplainedSettings,
    Settings as Settings,
    explain_settings as explain_settings,
    load_settings as load_settings,
)
from ._subscriptions import (
    Mode as Mode,
    Subscription as Subscription,
    SubscriptionRefusedError as SubscriptionRefusedError,
    Subscriptions as Subscriptions,
)
from ._transport import Transport as Transport
from ._udp import (
    Peer as Peer,
    UdpEndpoint as UdpEndpoint,
    adopt_udp as adopt_udp,
    open_udp as open_udp,
)
from ._worker import (
    BundleModelFactory as BundleModelFactory,
    ModelFactory as ModelFactory,
    ProcessExecutor as ProcessExecutor,
    WorkerDiedError as WorkerDiedError,
    WorkerError as WorkerError,
    bundle_factories as bundle_factories,
    start_process_executors as start_process_executors,
)
