"""A local stand-in for Africa's Talking's SMS API (``POST /version1/messaging``).

It answers in AT's JSON shape and records every request, so tests can check
what the SDK really put on the wire. ``answer`` picks the behaviour of the
next requests.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer

STATUS_NAMES = {
    100: "Processed",
    101: "Success",
    102: "Queued",
    403: "InvalidPhoneNumber",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    500: "InternalServerError",
}


@dataclass
class StubRequest:
    api_key: str
    accept: str
    form: dict[str, str]


@dataclass
class Answer:
    status_code: int = 101  # per recipient, inside the JSON body
    http_status: int = 201
    content_type: str = "application/json"  # exactly what the SDK checks for before parsing JSON
    body: str | None = None  # raw body instead of AT's JSON
    hang: bool = False  # never answer (until the stub closes)
    no_recipients: bool = False


@dataclass
class AtSmsStub:
    answer: Answer = field(default_factory=Answer)
    requests: list[StubRequest] = field(default_factory=list)
    server: TestServer | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: int = 0

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/version1/messaging", self._messaging)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()

    async def close(self) -> None:
        self._release.set()
        if self.server is not None:
            await self.server.close()

    async def _messaging(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(StubRequest(request.headers.get("apiKey", ""), request.headers.get("Accept", ""), form))
        answer = self.answer
        if answer.hang:
            await self._release.wait()
        if answer.body is not None:
            return web.Response(status=answer.http_status, text=answer.body, content_type="text/plain")
        if answer.http_status >= 300:
            return web.Response(status=answer.http_status, text="The supplied authentication is invalid")
        recipients = (
            []
            if answer.no_recipients
            else [self._recipient(number, answer.status_code) for number in form["to"].split(",")]
        )
        message = (
            "InvalidSenderId"
            if answer.no_recipients
            else f"Sent to {len(recipients)}/{len(recipients)} Total Cost: ZMW 0.2000"
        )
        body = {"SMSMessageData": {"Message": message, "Recipients": recipients}}
        response = web.json_response(body, status=answer.http_status)
        response.headers["Content-Type"] = answer.content_type
        return response

    def _recipient(self, number: str, status_code: int) -> dict[str, object]:
        self._ids += 1
        sent = status_code < 200
        return {
            "statusCode": status_code,
            "number": number,
            "status": STATUS_NAMES.get(status_code, "Unknown"),
            "cost": "ZMW 0.2000" if sent else "0",
            "messageId": f"ATXid_{self._ids:08d}" if sent else "None",
        }
