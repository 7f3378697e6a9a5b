"""What each control message does: the OSC address space applied to the daemon's state.

The transport hands every datagram here with its sender. Anything that does not decode to a valid
message — malformed bytes, unknown address, wrong types, out-of-range values — and any request the
music cannot honour (an unknown scene) is answered with ``/metal/error`` (rate-limited per peer,
so a broken client cannot make us flood it), counted, and logged; it never reaches the music.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import structlog
import trio
from metalosc.protocol import (
    Bundle,
    Error,
    Interpolate,
    Message,
    Mute,
    Ping,
    Play,
    Pong,
    ProtocolError,
    SceneSave,
    StateRequest,
    Stop,
    Subscribe,
    Temperature,
    Tempo,
    Tension,
    Unsubscribe,
    decode_packet,
    encode,
)

from ._clock import BeatClock
from ._conductor import Conductor, ConductorError, Interpolation
from ._metrics import Metrics
from ._ratelimit import PeerRateLimiter
from ._scheduler import Player
from ._state import MusicState
from ._subscriptions import Subscriptions

__all__ = ["Controller"]

log = structlog.get_logger("metalosc.server.control")

Peer = tuple[str, int]
SendTo = Callable[[bytes, Peer], Awaitable[bool]]


class Controller:
    def __init__(
        self,
        *,
        state: MusicState,
        clock: BeatClock,
        conductor: Conductor,
        player: Player,
        subscriptions: Subscriptions,
        limiter: PeerRateLimiter,
        metrics: Metrics,
        send_to: SendTo,
        start_interpolation: Callable[[Interpolation], None],
        on_tension: Callable[[], None] = lambda: None,
        lookahead: float = 0.15,
    ) -> None:
        self.state = state
        self.clock = clock
        self.conductor = conductor
        self.player = player
        self.subscriptions = subscriptions
        self.limiter = limiter
        self.metrics = metrics
        self.send_to = send_to
        self.start_interpolation = start_interpolation
        self.on_tension = on_tension
        self.lookahead = lookahead

    async def handle_datagram(self, data: bytes, peer: Peer) -> None:
        self.metrics.inc("packets_received")
        self.subscriptions.touch(peer, trio.current_time())
        try:
            packet = decode_packet(data)
        except ProtocolError as exc:
            await self.reject(peer, exc.address or "", exc.reason)
            return
        messages = packet.messages if isinstance(packet, Bundle) else (packet,)
        for message in messages:
            await self.handle(message, peer)

    async def reject(self, peer: Peer, address: str, reason: str) -> None:
        """Count, log and (unless this peer is over its error budget) answer ``/metal/error``."""
        self.metrics.inc("errors")
        if not self.limiter.allow(peer, trio.current_time()):
            self.metrics.inc("error_replies_suppressed")
            return
        log.warning("osc_rejected", peer=f"{peer[0]}:{peer[1]}", address=address, reason=reason)
        await self.send_to(encode(Error(refused_address=address, reason=reason)), peer)

    async def handle(self, message: Message, peer: Peer) -> None:
        now = trio.current_time()
        state = self.state
        match message:
            case Ping(args=args):
                pong = Pong(args=args, server_time=self.clock.to_unix(now))
                await self.send_to(encode(pong), peer)
            case StateRequest():
                await self.send_to(encode(state.to_message()), peer)
            case Subscribe(port=port, mode=mode):
                sub = self.subscriptions.subscribe(peer, port, mode, now)
                log.info(
                    "subscribed",
                    peer=f"{peer[0]}:{peer[1]}",
                    destination=sub.destination,
                    mode=mode,
                )
                await self.send_to(encode(state.to_message()), sub.destination)
            case Unsubscribe():
                if self.subscriptions.unsubscribe(peer):
                    log.info("unsubscribed", peer=f"{peer[0]}:{peer[1]}")
            case Tension(value=value):
                state.tension = value
                self.on_tension()
                await self.broadcast_state()
            case Tempo(bpm=bpm):
                state.bpm = bpm
                if state.playing:
                    beat = self.clock.set_tempo(bpm, after=now + self.lookahead)
                    log.info("tempo_changed", bpm=bpm, from_beat=beat)
                await self.broadcast_state()
            case Temperature(value=value):
                state.temperature = value
                await self.broadcast_state()
            case Mute(instrument=instrument, muted=muted):
                state.muted[instrument] = muted
                await self.broadcast_state()
            case Play():
                self.player.play()
                await self.broadcast_state()
            case Stop():
                self.player.stop()
                await self.broadcast_state()
            case SceneSave(name=name):
                try:
                    self.conductor.save_scene(name)
                except ConductorError as exc:
                    await self.reject(peer, message.address, str(exc))
                    return
                log.info("scene_saved", scene=name)
            case Interpolate(scene=scene, bars=bars):
                try:
                    interp = self.conductor.plan_interpolation(scene, bars)
                except ConductorError as exc:
                    await self.reject(peer, message.address, str(exc))
                    return
                log.info("interpolation_started", scene=scene, bars=bars)
                self.start_interpolation(interp)
                await self.broadcast_state()
            case _:
                await self.reject(peer, message.address, "not a client-to-server message")

    async def broadcast(self, messages: Sequence[Message]) -> None:
        for message in messages:
            data = encode(message)
            for sub in self.subscriptions.active():
                await self.send_to(data, sub.destination)

    async def broadcast_state(self) -> None:
        """``/metal/state`` to every subscriber (faders follow every change)."""
        await self.broadcast([self.state.to_message()])
