"""What each control message does: the OSC address space applied to the daemon.

The UDP endpoint hands every datagram to :meth:`Controller.handle_datagram` with its sender.
What is checked first costs least: a sender outside the allowlist is dropped unanswered, a peer
sending faster than its input budget (a token bucket per peer) has the excess shed before it is
parsed, and an oversized datagram is refused unread — all counted, none of it logged per
datagram — so a flood costs the event loop little and the beat keeps its time. Replies to the
sender are charged to the datagram's size (:meth:`Outbox.answering`): a stranger never gets more
bytes back than it sent. Anything that does not decode to a valid message — malformed bytes,
unknown address, wrong types, out-of-range values — and any request the music cannot honour (an
unknown scene) is refused through the outbox's ``/metal/error`` (counted, logged, rate-limited
per peer and in all); it never reaches the music. Each valid message is dispatched on its class
to one handler; every change of what ``/metal/state`` reports is broadcast to the subscribers,
so TouchOSC faders follow.

An address pattern (``/metal/t?nsion``) reaches every address it matches, each as if sent to it
(the codec resolves it); a bundle timetagged in the future waits in :class:`ScheduledBundles`
and is applied at its time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import structlog
import trio
from metalosc.protocol import (
    KEY_NAMES,
    KEY_PITCH_CLASSES,
    Bundle,
    Fill,
    Interpolate,
    Key,
    Message,
    MessageBase,
    Mute,
    Ping,
    Play,
    Pong,
    ProtocolError,
    SceneDelete,
    SceneList,
    SceneListRequest,
    SceneSave,
    SectionRequest,
    State,
    StateRequest,
    Stop,
    Subscribe,
    Temperature,
    Tempo,
    Tension,
    TransitionDefault,
    Unsubscribe,
    decode_packet,
)

from ._access import AccessList
from ._clock import BeatClock
from ._conductor import Conductor, ConductorError, Interpolation, SectionOrder
from ._controls import Controls
from ._metrics import Metrics, RejectReason
from ._outbox import Outbox
from ._ratelimit import PeerRateLimiter, TokenBucket
from ._scenes import SceneStore
from ._scheduled import BundleRefusedError, ScheduledBundles
from ._subscriptions import SubscriptionRefusedError, Subscriptions
from ._transport import Transport
from ._udp import Peer

__all__ = ["Controller", "reject_reason"]

log = structlog.get_logger("metalosc.server.control")

Handler = Callable[[Any, Peer], Awaitable[None]]


def reject_reason(error: ProtocolError) -> RejectReason:
    """The metrics' reason for a packet that did not decode: ``malformed`` before an address
    was read or when the bytes are cut short or malformed, ``unknown_address``, else
    ``invalid_arguments`` (the address is known, its arguments are not acceptable)."""
    reason = error.reason.lower()
    if error.address is None or any(
        word in reason for word in ("malformed", "truncated", "trailing bytes", "bad size")
    ):
        return "malformed"
    if reason.startswith(("unknown address", "no address matches")):
        return "unknown_address"
    return "invalid_arguments"


class Decoding(Protocol):
    """What the controller asks of the :class:`~metalosc.server.Generator`."""

    def poke(self) -> None:
        """Decode for the current controls now (the tension moved)."""
        ...

    def decode_soon(self, order: Interpolation | SectionOrder) -> None:
        """Decode what the conductor ordered (a morph's path …) in the background."""
        ...


class Controller:
    """Applies client messages: each message class has one handler (``_handlers``).

    It writes the :class:`~metalosc.server.Controls` and asks the owners of the rest to change:
    the clock (tempo, from the first beat after ``now + lookahead`` seconds, so no beat already
    sent moves), the transport (play/stop), the conductor (scenes, interpolation), the generator
    (decode for a new tension, decode a morph's path), the subscriptions. Replies and
    broadcasts go through the ``outbox``; ``metrics`` counts packets: ``packets_received`` =
    ``packets_denied`` + ``packets_shed`` + ``packets_oversize`` + ``packets_malformed`` +
    ``packets_decoded``.

    ``access`` is the allowlist (``None``: everyone), ``input_limiter`` the per-peer input
    budget (``None``: unlimited), ``max_packet`` the longest datagram parsed (bytes),
    ``max_scenes`` and ``max_name`` cap the saved scenes and the length of their names and of
    section labels.
    """

    def __init__(
        self,
        *,
        controls: Controls,
        clock: BeatClock,
        transport: Transport,
        conductor: Conductor,
        generator: Decoding,
        subscriptions: Subscriptions,
        outbox: Outbox,
        metrics: Metrics,
        lookahead: float = 0.15,
        bundle_horizon: float = 60.0,
        bundle_capacity: int = 256,
        scene_store: SceneStore | None = None,
        access: AccessList | None = None,
        input_limiter: PeerRateLimiter | None = None,
        max_packet: int = 65_535,
        max_scenes: int = 64,
        max_name: int = 32,
    ) -> None:
        self.controls = controls
        self.clock = clock
        self.transport = transport
        self.conductor = conductor
        self.generator = generator
        self.subscriptions = subscriptions
        self.outbox = outbox
        self.metrics = metrics
        self.lookahead = lookahead
        self.scene_store = scene_store or SceneStore(None)
        """Where saved scenes are kept (default: nowhere, they last as long as the process)."""
        self.access = access
        self.input_limiter = input_limiter
        self.max_packet = max_packet
        self.max_scenes = max_scenes
        self.max_name = max_name
        # what a flood is told about in the log: a line now and then, never one per datagram
        self._denied_log = TokenBucket(rate=0.2, burst=3.0, tokens=3.0, updated=-1e9)
        self._shed_log = TokenBucket(rate=0.2, burst=3.0, tokens=3.0, updated=-1e9)
        self.scheduled = ScheduledBundles(
            self._apply_later, horizon=bundle_horizon, capacity=bundle_capacity
        )
        """Future-timetagged bundles waiting for their time (:meth:`run` applies them)."""
        self._handlers: dict[type[MessageBase], Handler] = {
            Ping: self._ping,
            StateRequest: self._state_request,
            Subscribe: self._subscribe,
            Unsubscribe: self._unsubscribe,
            Tension: self._tension,
            Tempo: self._tempo,
            Temperature: self._temperature,
            TransitionDefault: self._transition,
            Key: self._key,
            Fill: self._fill,
            SectionRequest: self._section,
            Mute: self._mute,
            Play: self._play,
            Stop: self._stop,
            SceneSave: self._scene_save,
            SceneDelete: self._scene_delete,
            SceneListRequest: self._scene_list,
            Interpolate: self._interpolate,
        }

    def may_send(self, host: str) -> bool:
        """Whether a peer at ``host`` (an address as the socket reports it) may control the
        daemon: inside ``allow``, or anyone when there is no allowlist."""
        return self.access is None or self.access.allows(host)

    def state(self) -> State:
        """``/metal/state``: every parameter, each read from its owner."""
        controls = self.controls
        return State(
            playing=self.transport.playing,
            tension=controls.tension,
            bpm=self.clock.bpm,
            temperature=controls.temperature,
            guitar_muted=controls.muted["guitar"],
            bass_muted=controls.muted["bass"],
            drums_muted=controls.muted["drums"],
            scene=self.conductor.scene_target,
            key=KEY_NAMES[self.conductor.target_key],
            transition=controls.transition,
        )

    def scene_list(self) -> SceneList:
        """``/metal/scene/list``: the saved scenes' names, sorted."""
        return SceneList(names=tuple(sorted(self.conductor.scenes)))

    async def broadcast_state(self) -> None:
        """``/metal/state`` to every subscriber."""
        await self.outbox.broadcast(self.state())

    async def run(self) -> None:
        """Forever: apply each future-timetagged bundle at its time (start it in the nursery
        that runs the daemon; without it such bundles wait forever)."""
        await self.scheduled.run()

    async def handle_datagram(self, data: bytes, peer: Peer) -> None:
        """Decode one datagram from ``peer`` and apply its message(s); a bundle's messages in
        order, all or none (a bad element refuses the whole bundle), at once or, timetagged in
        the future, at that time (:attr:`scheduled`; refused beyond its bounds).

        Dropped unanswered before parsing: a peer outside :attr:`access`, or over its input
        budget. Refused unread: a datagram longer than :attr:`max_packet` bytes. The time from
        arrival to the end of its handling goes into the control round-trip histogram."""
        arrived = trio.current_time()
        try:
            await self._handle_datagram(data, peer, arrived)
        finally:
            self.metrics.control_seconds.observe(trio.current_time() - arrived)

    async def _handle_datagram(self, data: bytes, peer: Peer, now: float) -> None:
        metrics = self.metrics
        metrics.inc("packets_received")
        if self.access is not None and not self.access.allows(peer[0]):
            metrics.inc("packets_denied")
            if self._denied_log.allow(now):
                log.warning(
                    "peer_denied", peer=f"{peer[0]}:{peer[1]}", total=metrics["packets_denied"]
                )
            return
        if self.input_limiter is not None and not self.input_limiter.allow(peer, now):
            metrics.inc("packets_shed")
            if self._shed_log.allow(now):
                log.warning(
                    "input_shed", peer=f"{peer[0]}:{peer[1]}", total=metrics["packets_shed"]
                )
            return
        self.subscriptions.touch(peer, now)
        with self.outbox.answering(peer, len(data)):
            if len(data) > self.max_packet:
                metrics.inc("packets_oversize")
                reason = f"datagram over {self.max_packet} bytes"
                await self.outbox.error(peer, "", reason, kind="oversize")
                return
            try:
                packet = decode_packet(data)
            except ProtocolError as exc:
                metrics.inc("packets_malformed")
                await self.outbox.error(
                    peer, exc.address or "", exc.reason, kind=reject_reason(exc)
                )
                return
            metrics.inc("packets_decoded")
            await self._handle_packet(packet, peer, len(data))

    async def _handle_packet(self, packet: Message | Bundle, peer: Peer, size: int) -> None:
        if not isinstance(packet, Bundle):
            await self.handle(packet, peer)
            return
        for refusal in packet.refusals:  # addresses a pattern named that refused the arguments
            await self.outbox.error(
                peer, refusal.address or "", refusal.reason, kind=reject_reason(refusal)
            )
        if packet.timetag is not None and packet.messages:
            due = self.clock.from_unix(packet.timetag)
            if due > trio.current_time():
                try:
                    self.scheduled.add(due, packet.messages, peer, size)
                except BundleRefusedError as exc:
                    self.metrics.inc("bundles_refused")
                    await self.outbox.error(peer, "#bundle", str(exc), kind="bundle_refused")
                    return
                self.metrics.inc("bundles_scheduled")
                return
        await self._apply(packet.messages, peer)

    async def _apply(self, messages: Sequence[Message], peer: Peer) -> None:
        for message in messages:
            await self.handle(message, peer)

    async def _apply_later(self, messages: Sequence[Message], peer: Peer, size: int) -> None:
        """A future bundle at its time: answered as if it had just arrived."""
        with self.outbox.answering(peer, size):
            await self._apply(messages, peer)

    async def handle(self, message: Message, peer: Peer) -> None:
        """Apply one decoded message from ``peer``."""
        handler = self._handlers.get(type(message))
        if handler is None:
            await self.outbox.error(
                peer, message.address, "not a client-to-server message", kind="not_a_request"
            )
            return
        await handler(message, peer)

    async def _ping(self, message: Ping, peer: Peer) -> None:
        now_unix = self.clock.to_unix(trio.current_time())
        await self.outbox.reply(Pong(args=message.args, server_time=now_unix), peer)

    async def _state_request(self, message: StateRequest, peer: Peer) -> None:
        await self.outbox.reply(self.state(), peer)

    async def _subscribe(self, message: Subscribe, peer: Peer) -> None:
        try:
            sub = self.subscriptions.subscribe(
                peer, message.port, message.mode, trio.current_time()
            )
        except SubscriptionRefusedError as exc:
            self.metrics.inc("subscriptions_refused")
            await self.outbox.error(peer, message.address, str(exc), kind="refused")
            return
        log.info(
            "subscribed",
            peer=f"{peer[0]}:{peer[1]}",
            destination=f"{sub.destination[0]}:{sub.destination[1]}",
            mode=message.mode,
        )
        await self.outbox.reply(self.state(), sub.destination)

    async def _unsubscribe(self, message: Unsubscribe, peer: Peer) -> None:
        if self.subscriptions.unsubscribe(peer):
            log.info("unsubscribed", peer=f"{peer[0]}:{peer[1]}")

    async def _tension(self, message: Tension, peer: Peer) -> None:
        self.controls.tension = message.value
        self.conductor.change(message.transition or self.controls.transition)
        self.generator.poke()  # decode for the new tension now, not when a phrase is taken
        await self.broadcast_state()

    async def _tempo(self, message: Tempo, peer: Peer) -> None:
        now = trio.current_time()
        # beats up to now + lookahead may already be sent: the new tempo starts after them
        beat = self.clock.set_tempo(message.bpm, after=now + self.lookahead)
        log.info("tempo_changed", bpm=message.bpm, from_beat=beat)
        await self.broadcast_state()

    async def _temperature(self, message: Temperature, peer: Peer) -> None:
        self.controls.temperature = message.value
        self.conductor.change(message.transition or self.controls.transition)
        self.generator.poke()
        await self.broadcast_state()

    async def _transition(self, message: TransitionDefault, peer: Peer) -> None:
        self.controls.transition = message.when
        await self.broadcast_state()

    async def _key(self, message: Key, peer: Peer) -> None:
        self.conductor.request_key(KEY_PITCH_CLASSES[message.key])
        self.generator.poke()  # phrases for the new key, before its section starts
        log.info("key_requested", key=message.key)
        await self.broadcast_state()

    async def _fill(self, message: Fill, peer: Peer) -> None:
        self.conductor.request_fill()
        log.info("fill_requested")

    async def _section(self, message: SectionRequest, peer: Peer) -> None:
        if len(message.label) > self.max_name:
            reason = f"label of {len(message.label)} characters; at most {self.max_name}"
            await self.outbox.error(peer, message.address, reason)
            return
        self.conductor.request_section(message.label)
        log.info("section_requested", label=message.label)

    async def _mute(self, message: Mute, peer: Peer) -> None:
        self.controls.muted[message.instrument] = message.muted
        await self.broadcast_state()

    async def _play(self, message: Play, peer: Peer) -> None:
        self.transport.play()
        await self.broadcast_state()

    async def _stop(self, message: Stop, peer: Peer) -> None:
        self.transport.stop()
        await self.broadcast_state()

    async def _scene_save(self, message: SceneSave, peer: Peer) -> None:
        if len(message.name) > self.max_name:
            reason = f"name of {len(message.name)} characters; at most {self.max_name}"
            await self.outbox.error(peer, message.address, reason)
            return
        scenes = self.conductor.scenes
        if message.name not in scenes and len(scenes) >= self.max_scenes:
            reason = f"{self.max_scenes} scenes saved already; save over one of them or delete one"
            await self.outbox.error(peer, message.address, reason, kind="refused")
            return
        try:
            self.conductor.save_scene(message.name)
        except ConductorError as exc:
            await self.outbox.error(peer, message.address, str(exc), kind="refused")
            return
        log.info("scene_saved", scene=message.name)
        self.scene_store.changed(self.conductor.scenes)
        await self.outbox.broadcast(self.scene_list())

    async def _scene_delete(self, message: SceneDelete, peer: Peer) -> None:
        try:
            self.conductor.delete_scene(message.name)
        except ConductorError as exc:
            await self.outbox.error(peer, message.address, str(exc), kind="refused")
            return
        log.info("scene_deleted", scene=message.name)
        self.scene_store.changed(self.conductor.scenes)
        await self.outbox.broadcast(self.scene_list())

    async def _scene_list(self, message: SceneListRequest, peer: Peer) -> None:
        await self.outbox.reply(self.scene_list(), peer)

    async def _interpolate(self, message: Interpolate, peer: Peer) -> None:
        try:
            self.conductor.plan_interpolation(message.scene, message.bars)
        except ConductorError as exc:
            await self.outbox.error(peer, message.address, str(exc), kind="refused")
            return
        log.info("interpolation_started", scene=message.scene, bars=message.bars)
        for order in self.conductor.take_orders():
            self.generator.decode_soon(order)
        await self.broadcast_state()
