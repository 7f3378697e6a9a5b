"""A small HTTP/1.1 server on trio (h11 for the protocol): what the OSCQuery server speaks.

Each connection is read with h11 (python-hyper's sans-I/O HTTP/1.1), requests are answered by a
plain function of the request target, and connections are kept alive until the client closes
them or is idle for ``idle_timeout`` seconds. Bad input never reaches the handler and never
raises: a request head larger than ``max_head`` bytes is answered 431, a malformed one 400, a
method other than GET or HEAD 405, a request body 413; each with a reason in plain text.
The handler is awaited: the OSCQuery one builds its JSON in a worker thread. At most
``max_connections`` connections are served at once (the others wait in the kernel's backlog).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import h11
import structlog
import trio

__all__ = ["HttpAnswer", "serve_http"]

log = structlog.get_logger("metalosc.server.http")


@dataclass(frozen=True)
class HttpAnswer:
    """A response: ``status``, ``body`` and its ``content_type``."""

    status: int
    body: bytes
    content_type: str = "application/json"


Handler = Callable[[str], Awaitable[HttpAnswer]]
"""The request target (path and query, as sent) -> the response."""

_SERVER = b"metalosc"


def _text(status: int, reason: str) -> HttpAnswer:
    return HttpAnswer(status, (reason + "\n").encode("utf-8"), "text/plain; charset=utf-8")


async def _send(
    stream: trio.SocketStream, conn: h11.Connection, answer: HttpAnswer, head_only: bool
) -> None:
    headers = [
        (b"Content-Type", answer.content_type.encode("ascii")),
        (b"Content-Length", str(len(answer.body)).encode("ascii")),
        (b"Server", _SERVER),
        (b"Access-Control-Allow-Origin", b"*"),  # browser-based OSCQuery clients
    ]
    if answer.status == 405:
        headers.append((b"Allow", b"GET, HEAD"))
    data = conn.send(h11.Response(status_code=answer.status, headers=headers))
    if answer.body and not head_only and answer.status not in (204, 304):
        data = (data or b"") + (conn.send(h11.Data(data=answer.body)) or b"")
    data = (data or b"") + (conn.send(h11.EndOfMessage()) or b"")
    await stream.send_all(data)


async def _next_event(
    stream: trio.SocketStream, conn: h11.Connection, max_bytes: int
) -> h11.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = await stream.receive_some(max_bytes)
        conn.receive_data(data)


def _peer_host(stream: trio.SocketStream) -> str:
    try:
        return str(stream.socket.getpeername()[0])
    except OSError:  # gone already
        return ""


async def _serve_connection(
    handler: Handler,
    max_head: int,
    idle_timeout: float,
    limit: trio.CapacityLimiter,
    allows: Callable[[str], bool],
    stream: trio.SocketStream,
) -> None:
    if not allows(_peer_host(stream)):
        # like a datagram from outside the allowlist: closed unanswered, before it takes a slot
        await trio.aclose_forcefully(stream)
        return
    async with limit:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head)
        try:
            await _converse(stream, conn, handler, max_head, idle_timeout)
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
            pass  # the client went away
        except h11.ProtocolError as exc:  # a client h11 cannot follow: only it is dropped
            log.warning("http_connection_dropped", error=str(exc))
        finally:
            await trio.aclose_forcefully(stream)


async def _converse(
    stream: trio.SocketStream,
    conn: h11.Connection,
    handler: Handler,
    max_head: int,
    idle_timeout: float,
) -> None:
    while True:
        with trio.move_on_after(idle_timeout):
            try:
                event = await _next_event(stream, conn, max_head)
                if isinstance(event, h11.Request):
                    await _respond(stream, conn, handler, event, max_head)
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint
                reason = "request head too large" if status == 431 else f"bad request: {exc}"
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await _send(stream, conn, _text(status, reason), head_only=False)
                return
            if conn.our_state is h11.MUST_CLOSE or isinstance(event, h11.ConnectionClosed):
                return
            if conn.states == {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
                conn.start_next_cycle()
                continue
            if isinstance(event, h11.Request):
                return  # the client may still be sending: nothing more to read safely
            continue
        return  # idle too long


async def _respond(
    stream: trio.SocketStream,
    conn: h11.Connection,
    handler: Handler,
    request: h11.Request,
    max_head: int,
) -> None:
    method = request.method.decode("ascii", "replace")
    target = request.target.decode("ascii", "replace")
    # Anything sent with the request is read (and refused if there is any) before answering.
    body = 0
    while True:
        event = await _next_event(stream, conn, max_head)
        if isinstance(event, h11.Data):
            body += len(event.data)
        if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    if method not in ("GET", "HEAD"):
        answer = _text(405, f"method {method[:16]} not allowed: OSCQuery is read with GET")
    elif body:
        answer = _text(413, "a GET request has no body")
    else:
        answer = await handler(target)
    log.debug("http_request", method=method, target=target[:200], status=answer.status)
    if conn.their_state is h11.ERROR or conn.our_state is not h11.SEND_RESPONSE:
        return
    await _send(stream, conn, answer, head_only=method == "HEAD")


async def serve_http(
    host: str,
    port: int,
    handler: Handler,
    *,
    max_head: int = 8192,
    idle_timeout: float = 10.0,
    max_connections: int = 32,
    allows: Callable[[str], bool] = lambda host: True,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve HTTP on ``host``:``port`` (0 = any free port) until cancelled; reports the bound
    port through ``task_status``. A connection from a host ``allows`` refuses (the peer's
    address as the socket reports it) is closed unanswered. Raises ``OSError`` when the address
    cannot be bound."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = int(listeners[0].socket.getsockname()[1])
    limit = trio.CapacityLimiter(max_connections)
    connection = partial(_serve_connection, handler, max_head, idle_timeout, limit, allows)
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, connection, listeners)
        task_status.started(bound)
