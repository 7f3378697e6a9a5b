"""Types of ``metalosc.server``'s public names, and where each lives (read by mypy, and by
``lazy_loader.attach_stub`` to import each module on first use)."""

from ._access import AccessList as AccessList
from ._app import (
    LIVE_SETTINGS as LIVE_SETTINGS,
)
from ._app import (
    START_SETTINGS as START_SETTINGS,
)
from ._app import (
    GraceExpiredError as GraceExpiredError,
)
from ._app import (
    RunningServer as RunningServer,
)
from ._app import (
    form_rules as form_rules,
)
from ._app import (
    reload_models as reload_models,
)
from ._app import (
    serve as serve,
)
from ._buffer import PhraseBuffer as PhraseBuffer
from ._clock import Anchor as Anchor
from ._clock import BeatClock as BeatClock
from ._conductor import (
    BarPlan as BarPlan,
)
from ._conductor import (
    Conductor as Conductor,
)
from ._conductor import (
    ConductorError as ConductorError,
)
from ._conductor import (
    FormRules as FormRules,
)
from ._conductor import (
    Interpolation as Interpolation,
)
from ._conductor import (
    PhraseSet as PhraseSet,
)
from ._conductor import (
    Scene as Scene,
)
from ._conductor import (
    Section as Section,
)
from ._conductor import (
    SectionOrder as SectionOrder,
)
from ._control import Controller as Controller
from ._controls import Controls as Controls
from ._cues import Cue as Cue
from ._cues import cue_messages as cue_messages
from ._cues import cues_for as cues_for
from ._generation import Generator as Generator
from ._logging import configure_logging as configure_logging
from ._metrics import Metrics as Metrics
from ._models import (
    ExecutorSource as ExecutorSource,
)
from ._models import (
    bundle_executors as bundle_executors,
)
from ._models import (
    load_models as load_models,
)
from ._notify import SystemdNotifier as SystemdNotifier
from ._outbox import Outbox as Outbox
from ._perform import Performed as Performed
from ._perform import perform as perform
from ._ping import PingError as PingError
from ._ping import ping as ping
from ._ping import ping_address as ping_address
from ._ratelimit import PeerRateLimiter as PeerRateLimiter
from ._ratelimit import TokenBucket as TokenBucket
from ._runner import (
    DecodeRequest as DecodeRequest,
)
from ._runner import (
    Executor as Executor,
)
from ._runner import (
    InstrumentModelLike as InstrumentModelLike,
)
from ._runner import (
    ModelInfo as ModelInfo,
)
from ._runner import (
    ModelRunner as ModelRunner,
)
from ._runner import (
    ModelUnavailableError as ModelUnavailableError,
)
from ._runner import (
    PhraseAnalysis as PhraseAnalysis,
)
from ._runner import (
    RestartExecutor as RestartExecutor,
)
from ._runner import (
    ThreadExecutor as ThreadExecutor,
)
from ._runner import (
    WorkerHungError as WorkerHungError,
)
from ._runner import (
    decode_phrases as decode_phrases,
)
from ._runner import (
    model_analysis as model_analysis,
)
from ._scheduled import (
    BundleRefusedError as BundleRefusedError,
)
from ._scheduled import (
    ScheduledBundles as ScheduledBundles,
)
from ._settings import (
    LOOPBACK as LOOPBACK,
)
from ._settings import (
    ConfigError as ConfigError,
)
from ._settings import (
    ConfigProblem as ConfigProblem,
)
from ._settings import (
    ExplainedSettings as ExplainedSettings,
)
from ._settings import (
    Settings as Settings,
)
from ._settings import (
    explain_settings as explain_settings,
)
from ._settings import (
    load_settings as load_settings,
)
from ._subscriptions import (
    Mode as Mode,
)
from ._subscriptions import (
    Subscription as Subscription,
)
from ._subscriptions import (
    SubscriptionRefusedError as SubscriptionRefusedError,
)
from ._subscriptions import (
    Subscriptions as Subscriptions,
)
from ._transport import Transport as Transport
from ._udp import (
    Peer as Peer,
)
from ._udp import (
    UdpEndpoint as UdpEndpoint,
)
from ._udp import (
    adopt_udp as adopt_udp,
)
from ._udp import (
    open_udp as open_udp,
)
from ._worker import (
    BundleModelFactory as BundleModelFactory,
)
from ._worker import (
    ModelFactory as ModelFactory,
)
from ._worker import (
    ProcessExecutor as ProcessExecutor,
)
from ._worker import (
    WorkerDiedError as WorkerDiedError,
)
from ._worker import (
    WorkerError as WorkerError,
)
from ._worker import (
    bundle_factories as bundle_factories,
)
from ._worker import (
    start_process_executors as start_process_executors,
)
