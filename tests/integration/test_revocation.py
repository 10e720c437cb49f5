"""Revoking a member's link or removing them from the set closes their open socket at once
and refuses their next request."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets

from tests.harness import CSRF, RoomClient, SeededSet, Server, session_cookie, sign_in


@pytest.mark.parametrize("action", ["revoke", "remove"])
def test_the_socket_closes_within_a_second(server: Server, seeded: SeededSet, action: str) -> None:
    member = seeded.members[0]
    cookie = session_cookie(server, seeded.tokens[member])
    facilitator = sign_in(server, seeded.emails[seeded.facilitator])

    async def scenario() -> None:
        client = await RoomClient(server, seeded.meeting_id, cookie).connect()
        watcher = await RoomClient(
            server, seeded.meeting_id, session_cookie(server, seeded.tokens[seeded.members[1]])
        ).connect()
        async with httpx.AsyncClient(
            auth=CSRF, base_url=server.base, cookies={"setroom_session": facilitator}
        ) as fac:
            answer = await fac.post(f"/sets/{seeded.set_id}/people/{member}/{action}")
            assert answer.status_code == 303
        # The bound: the open socket is closed within one second.
        assert client._reader is not None
        done, _ = await asyncio.wait({client._reader}, timeout=1.0)
        assert done, "the socket was still open a second later"
        assert client._ws.close_code == 1008
        refused = httpx.get(
            f"{server.base}/meetings/{seeded.meeting_id}", cookies={"setroom_session": cookie}
        )
        assert refused.status_code in (401, 403)
        with pytest.raises(websockets.InvalidStatus):
            await RoomClient(server, seeded.meeting_id, cookie).connect()
        state = await watcher.wait_for(lambda s: member not in s.online)
        person = state.person(member)
        assert person is not None
        assert person.active is (action == "revoke")  # removed people stay in the history
        await watcher.close()
        await client.close()

    asyncio.run(scenario())
