"""The room's WebSocket: one endpoint per meeting, for browsers (htmx, HTML fragments) and API
clients (JSON, see docs/protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from app.db.schedule import rules_to_accept
from app.domain import commands as c
from app.domain.errors import DomainError, RoomMovedOn
from app.domain.model import Actor, Role
from app.rooms.connection import CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_TOO_SLOW, Connection, Mode
from app.rooms.hub import Room
from app.web import language
from app.web.deps import Services, services_of
from app.web.guard import SetParticipant
from app.web.language import N_
from app.web.refusals import refusal_text
from app.web.ws_guards import AllowedOrigin, MessageRate

router = APIRouter()
JOIN_ATTEMPTS = 10
CLOSE_TRY_AGAIN = 1013
log = logging.getLogger(__name__)

CLOSE_NOT_FOUND = 4404
CLOSE_GRACE_S = 5.0
"""How long a socket closed for its own messages may take to receive its closing frame."""
TOO_FAST = N_("You are sending too fast: wait a moment, then try again.")
TOO_FAST_CLOSE = "Too many messages, too fast."


class BadMessage(Exception):
    def __init__(self, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


@router.websocket("/meetings/{meeting_id}/ws")
async def room_socket(
    websocket: WebSocket, meeting_id: str, _origin: AllowedOrigin, who: SetParticipant
) -> None:
    """The Origin is checked first, then the access rule (the Guard): either refuses the
    handshake before it is accepted (HTTP 403)."""
    services = services_of(websocket.app)
    pending = await asyncio.to_thread(
        rules_to_accept, services.engine, meeting_id=meeting_id, person_id=who.person_id
    )
    if pending is not None:  # the ground rules come first, for API clients as for browsers
        await websocket.close(code=CLOSE_POLICY)
        return
    mode: Mode = "json" if websocket.query_params.get("mode") == "json" else "html"
    since = _parse_since(websocket.query_params.get("since"))
    rate = MessageRate(
        services.hub.message_limiter,
        uuid.uuid4().hex,
        rate=services.settings.ws_message_rate,
        strikes=services.settings.ws_throttle_strikes,
    )
    try:
        async with services.hub.hold(meeting_id) as room:
            person = room.state.person(who.person_id)
            if person is None or not person.active:  # joined after it was planned, or left
                await websocket.close(code=CLOSE_POLICY)
                return
            await websocket.accept()
            if not room.state.may_enter(person.id):
                if not await _wait_in_lobby(websocket, services, room, person.id, rate):
                    return
                if mode == "html":  # the browser reloads into the room
                    await websocket.send_text(services.renderer.admitted())
                    return
            await _serve(websocket, services, room, person.id, person.role, mode, since, rate)
    except LookupError:
        await websocket.close(code=CLOSE_NOT_FOUND)
    finally:
        rate.forget()


async def _serve(
    websocket: WebSocket,
    services: Services,
    room: Room,
    participant: str,
    role: Role,
    mode: Mode,
    since: int | None,
    rate: MessageRate,
) -> None:
    meeting_id = room.meeting_id
    conn = Connection(
        id=f"{services.broker.worker_id}.{uuid.uuid4().hex[:16]}",  # see app.rooms.presence
        participant=participant,
        role=role,
        mode=mode,
        limit=services.settings.send_queue_limit,
        language=language.current(),  # decided at the handshake (app.web.language)
    )
    actor = Actor(participant=participant, role=role)
    if not await _join(services, meeting_id, c.Join(connection=conn.id, participant=participant)):
        await websocket.close(code=CLOSE_TRY_AGAIN)
        return
    # Producer and consumer: when either ends (the client left, or it is too slow), stop both.
    tasks: set[asyncio.Task[None]] = set()
    try:
        services.hub.attach(room, conn, since=since)
        sender = asyncio.create_task(_send_loop(websocket, conn))
        receiver = asyncio.create_task(
            _receive_loop(websocket, services, meeting_id, actor, conn, rate)
        )
        tasks = {sender, receiver}
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if receiver in done and conn.close_code is not None and not sender.done():
            # The receiver refused the socket (too big, too fast): the sender closes it.
            await asyncio.wait({sender}, timeout=CLOSE_GRACE_S)
    finally:
        for task in tasks:
            task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, Exception) and not _is_disconnect(outcome):
                log.error("room socket failed", exc_info=outcome)
        try:
            await services.rooms.handle(meeting_id, Actor.system(), c.Leave(connection=conn.id))
        except DomainError:
            pass
        except Exception:
            log.exception("recording a departure failed")
        finally:
            services.hub.detach(room, conn)


async def _join(services: Services, meeting_id: str, join: c.Join) -> bool:
    """Record the arrival. When a whole room arrives at once through several workers, their
    joins race for the same sequence numbers: try again a little later rather than fail."""
    for attempt in range(JOIN_ATTEMPTS):
        try:
            await services.rooms.handle(meeting_id, Actor.system(), join)
            return True
        except RoomMovedOn:
            await asyncio.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
    return False


def _is_disconnect(error: Exception) -> bool:
    # Sending to a socket the client has just closed; uvicorn names it in its own module.
    return isinstance(error, WebSocketDisconnect) or type(error).__name__ == "ClientDisconnected"


def _parse_since(raw: str | None) -> int | None:
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        return None  # a malformed sequence falls back to a full snapshot
    return int(raw)


async def _wait_in_lobby(
    websocket: WebSocket, services: Services, room: Room, participant: str, rate: MessageRate
) -> bool:
    """Hold a newcomer to a locked meeting until let in, sending nothing of the room. True when
    let in; False when they left first."""
    await websocket.send_text(
        json.dumps({"op": "lobby", "message": "Waiting for the facilitator to let you in."})
        if websocket.query_params.get("mode") == "json"
        else services.renderer.lobby_page_region()
    )
    admitted = services.hub.wait_in_lobby(room, participant)
    with contextlib.suppress(DomainError):
        await services.rooms.handle(
            room.meeting_id, Actor.system(), c.Knock(participant=participant)
        )
    gone = asyncio.create_task(_until_disconnect(websocket, services, rate))
    let_in = asyncio.create_task(admitted.wait())
    try:
        await asyncio.wait({gone, let_in}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (gone, let_in):
            task.cancel()
        await asyncio.gather(gone, let_in, return_exceptions=True)
        services.hub.leave_lobby(room, participant, admitted)
    if admitted.is_set():
        return True
    with contextlib.suppress(DomainError):
        await services.rooms.handle(
            room.meeting_id, Actor.system(), c.LeaveLobby(participant=participant)
        )
    return False


async def _until_disconnect(websocket: WebSocket, services: Services, rate: MessageRate) -> None:
    """Until a waiting client goes: answer its pings, and refuse anything else."""
    limit = services.settings.max_message_bytes
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if _too_large(message, limit):
            await websocket.close(code=CLOSE_TOO_BIG, reason=_size_reason(limit))
            return
        verdict = rate.check()
        if verdict == "close":
            await websocket.close(code=CLOSE_POLICY, reason=TOO_FAST_CLOSE)
            return
        if websocket.query_params.get("mode") != "json":
            continue
        try:
            data = json.loads(message.get("text") or "")
        except (ValueError, RecursionError):
            data = None
        request_id = data.get("id") if isinstance(data, dict) else None
        if verdict == "throttle":
            reply = {"op": "error", "id": request_id, "code": "too_fast", "message": TOO_FAST}
        elif isinstance(data, dict) and data.get("op") == "ping":
            reply = {"op": "pong", "id": request_id, "server_now": services.clock()}
        else:
            reply = {
                "op": "error",
                "id": request_id,
                "code": "not_now",
                "message": "You are waiting to be let in.",
            }
        await websocket.send_text(json.dumps(reply))


async def _send_loop(websocket: WebSocket, conn: Connection) -> None:
    while True:
        message = await conn.queue.get()
        if message is None:
            if conn.dropped:
                await websocket.close(code=CLOSE_TOO_SLOW)
            elif conn.close_code is not None:
                await websocket.close(code=conn.close_code, reason=conn.close_reason)
            return
        await websocket.send_text(message)


async def _receive_loop(
    websocket: WebSocket,
    services: Services,
    meeting_id: str,
    actor: Actor,
    conn: Connection,
    rate: MessageRate,
) -> None:
    """Take the client's messages one by one. Returns when the client has gone, or after asking
    the sender to close the socket (`conn.stop`) for a message too big or a sender too fast."""
    limit = services.settings.max_message_bytes
    while True:
        try:
            message = await websocket.receive()
        except WebSocketDisconnect:
            return
        if message["type"] == "websocket.disconnect":
            return
        if _too_large(message, limit):
            conn.stop(CLOSE_TOO_BIG, _size_reason(limit))
            return
        verdict = rate.check()
        if verdict == "close":
            conn.stop(CLOSE_POLICY, TOO_FAST_CLOSE)
            return
        raw = message.get("text")
        if verdict == "throttle":
            _reply_error(services, conn, "too_fast", TOO_FAST, _request_id(raw, conn.mode))
            continue
        if raw is None:
            _reply_error(services, conn, "invalid", "Send text messages of JSON.", None)
            continue
        try:
            command, expect_seq, request_id = _parse(raw, conn.mode)
        except BadMessage as bad:
            _reply_error(services, conn, "invalid", bad.message, bad.request_id)
            continue
        if command is None:  # a ping
            conn.send(json.dumps({"op": "pong", "id": request_id, "server_now": services.clock()}))
            continue
        try:
            seq = await services.rooms.handle(meeting_id, actor, command, expect_seq=expect_seq)
        except DomainError as refused:
            _reply_error(
                services,
                conn,
                refused.code,
                refused.message,
                request_id,
                command,
                refused.template,
                refused.params,
            )
            continue
        if conn.mode == "json":
            conn.send(json.dumps({"op": "ack", "id": request_id, "seq": seq}))


def _size_reason(limit: int) -> str:
    return f"Messages are limited to {limit // 1024} KiB."


def _too_large(message: Mapping[str, Any], limit: int) -> bool:
    """Whether a received message is over `limit` bytes (text counted as UTF-8)."""
    text = message.get("text")
    if text is None:
        return len(message.get("bytes") or b"") > limit
    # Each character is one to four bytes: encode only when that leaves it in doubt.
    if len(text) > limit or len(text) * 4 <= limit:
        return len(text) > limit
    return len(text.encode()) > limit


def _request_id(raw: str | None, mode: Mode) -> Any:
    """The id of a message that is refused unread, so that its sender can match the error."""
    if raw is None or mode != "json":
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    request_id = data.get("id") if isinstance(data, dict) else None
    return request_id if isinstance(request_id, (str, int)) and len(str(request_id)) <= 64 else None


def _parse(raw: str, mode: Mode) -> tuple[c.AnyCommand | None, int | None, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadMessage("That message is not JSON.") from None
    if not isinstance(data, dict):
        raise BadMessage("A message is a JSON object.")
    if mode == "html":
        # htmx's ws-send: the form's fields plus a HEADERS object; empty inputs mean "not given".
        fields = {k: v for k, v in data.items() if k != "HEADERS" and v != ""}
        return _command(fields, None), None, None
    request_id = data.get("id")
    if not (request_id is None or isinstance(request_id, (str, int))) or len(str(request_id)) > 64:
        raise BadMessage("'id' is a string or number of at most 64 characters.")
    op = data.get("op")
    if op == "ping":
        return None, None, request_id
    if op != "command":
        raise BadMessage("Unknown op: send 'command' or 'ping'.", request_id)
    expect_seq = data.get("expect_seq")
    if expect_seq is not None and (not isinstance(expect_seq, int) or isinstance(expect_seq, bool)):
        raise BadMessage("'expect_seq' is an integer.", request_id)
    return _command(data.get("command"), request_id), expect_seq, request_id


def _command(data: Any, request_id: Any) -> c.AnyCommand:
    if isinstance(data, dict) and data.get("type") in c.SYSTEM_COMMANDS:
        raise BadMessage("That command is the server's own.", request_id)
    try:
        return c.parse_command(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "command"
        raise BadMessage(f"Bad command: {where}: {first['msg']}.", request_id) from None


def _reply_error(
    services: Services,
    conn: Connection,
    code: str,
    message: str,
    request_id: Any,
    command: c.AnyCommand | None = None,
    template: str = "",
    params: dict[str, str | int] | None = None,
) -> None:
    if conn.mode == "html":
        # The refused command lets the room offer to send it as it is (a gentle prompt).
        # People read it in their language; the message's English stays the API's.
        text = refusal_text(template or message, params)
        conn.send(services.renderer.error(text, code=code, command=command))
    else:
        conn.send(json.dumps({"op": "error", "id": request_id, "code": code, "message": message}))
