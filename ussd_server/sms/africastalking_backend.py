"""Africa's Talking SMS through the official SDK (``africastalking`` 2.x).

The SDK is synchronous (``requests``), so each send runs on a small dedicated
thread pool and :func:`asyncio.wait_for` bounds how long we wait. Our timeout
is the one that counts: when it fires the send is reported as ``retry`` and
the thread may linger until the HTTP call ends. We also hand the SDK a
``requests`` timeout a little longer than ours, so our bound is the one that
decides and a lingering thread ends soon after (it bounds each socket read,
not the whole call, so a server trickling bytes can hold a thread longer;
the pool is small and separate, so that never reaches the event loop or the
database). Because a timed-out message may in
fact have gone out, a retry can deliver it twice: delivery is at least once.

We build our own ``SMSService`` instead of calling ``africastalking.initialize``:
that function replaces module-wide globals for eight services, and one
instance per backend keeps credentials out of global state.
The API key is never logged, and never part of a result or ``repr``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import africastalking
from africastalking.Service import AfricasTalkingException

from ussd_server.sms.backends import SendResult, SendStatus

log = logging.getLogger(__name__)

# The SDK refuses anything else with a ValueError before it sends.
_E164 = re.compile(r"^\+\d{7,15}$")
_CONNECT_TIMEOUT_S = 3.05
_THREAD_GRACE_S = 1.0
_ERROR_CHARS = 200

# Per-recipient statusCode -> what the worker should do. AT's meanings, and why:
STATUS_CODES: dict[int, tuple[SendStatus, str]] = {
    100: ("sent", "Processed"),
    101: ("sent", "Sent"),
    102: ("sent", "Queued"),
    # Account-wide problems the operator fixes (AT's risk team, sender id
    # configuration, credit): the message is still worth sending afterwards.
    401: ("retry", "RiskHold"),
    402: ("retry", "InvalidSenderId"),
    405: ("retry", "InsufficientBalance"),
    # About this recipient: sending again gives the same answer.
    403: ("failed", "InvalidPhoneNumber"),
    404: ("failed", "UnsupportedNumberType"),
    406: ("failed", "UserInBlacklist"),  # the subscriber opted out; resending is unwanted
    409: ("failed", "DoNotDisturbRejection"),
    # Routes to a network come and go.
    407: ("retry", "CouldNotRoute"),
    500: ("retry", "InternalServerError"),
    501: ("retry", "GatewayError"),
    502: ("retry", "RejectedByGateway"),
}


def parse_send_response(response: object, to: str) -> SendResult:
    """Read the SDK's answer to ``SMS.send``: a dict, or text when the content type had a charset."""
    if isinstance(response, str):
        text = response
        try:
            response = json.loads(text)
        except ValueError:
            return SendResult("retry", error=f"unreadable answer: {text[:_ERROR_CHARS]!r}")
    data = response.get("SMSMessageData") if isinstance(response, dict) else None
    recipients = data.get("Recipients") if isinstance(data, dict) else None
    if not isinstance(recipients, list):
        return SendResult("retry", error=f"unexpected answer: {str(response)[:_ERROR_CHARS]!r}")
    if not recipients:
        # AT answers a request it refused as a whole (e.g. a bad sender id) with
        # no recipients and the reason in Message.
        message = str(data.get("Message", "")) if isinstance(data, dict) else ""
        return SendResult("retry", error=f"no recipient accepted: {message[:_ERROR_CHARS]}")
    entries = [r for r in recipients if isinstance(r, dict)]
    entry = next((r for r in entries if r.get("number") == to), entries[0] if entries else {})
    try:
        code = int(entry.get("statusCode", ""))
    except (TypeError, ValueError):
        return SendResult("retry", error=f"recipient without a status code: {str(entry)[:_ERROR_CHARS]!r}")
    # Unknown codes retry: bounded by the worker's attempt limit, and never lose a message to a new code.
    status, name = STATUS_CODES.get(code, ("retry", str(entry.get("status", "unknown"))))
    if status == "sent":
        return SendResult("sent", provider_ref=str(entry.get("messageId", "")))
    return SendResult(status, error=f"{code} {name}")


class AfricasTalkingBackend:
    def __init__(
        self,
        username: str,
        api_key: str,
        sender_id: str | None = None,
        timeout_s: float = 10.0,
        *,
        max_threads: int = 4,
    ) -> None:
        # Public so a test can point it at a local stub of the API.
        self.sdk: Any = africastalking.SMSService(username, api_key)
        self.username = username
        self._sender_id = sender_id or None
        self._timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="at-sms")

    def __repr__(self) -> str:
        return f"AfricasTalkingBackend(username={self.username!r}, sender_id={self._sender_id!r})"

    async def send(self, to: str, text: str) -> SendResult:
        if not _E164.fullmatch(to):
            return SendResult("failed", error="recipient is not an E.164 number")
        call = functools.partial(
            self.sdk.send,
            text,
            [to],
            sender_id=self._sender_id,
            timeout=(min(_CONNECT_TIMEOUT_S, self._timeout_s), self._timeout_s + _THREAD_GRACE_S),
        )
        try:
            response = await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(self._executor, call), self._timeout_s
            )
        except TimeoutError:
            return SendResult("retry", error=f"no answer within {self._timeout_s:g} s")
        except AfricasTalkingException as exc:
            # The SDK raises this for any non-2xx answer, with the body as its message.
            return SendResult("retry", error=f"HTTP error: {str(exc)[:_ERROR_CHARS]}")
        except Exception as exc:
            # Connection errors, requests' own timeouts, SDK surprises: all worth another try.
            return SendResult("retry", error=f"{type(exc).__name__}: {str(exc)[:_ERROR_CHARS]}")
        return parse_send_response(response, to)

    async def close(self) -> None:
        # Don't wait for a thread stuck in a slow HTTP call; requests' timeout ends it.
        self._executor.shutdown(wait=False, cancel_futures=True)
