"""HTTP routes: the USSD callback, session-end notifications, SMS delivery reports, health."""

from __future__ import annotations

import contextlib
import logging

from aiohttp import web

from engine.analytics.model import UssdSessionEnd
from ussd_server.appkeys import KDF_POOL, METRICS, PLATFORM, SESSIONS, SETTINGS, SMS_BACKEND, USSD
from ussd_server.gateway import BadRequest, parse_callback
from ussd_server.logfields import log_phone, logfield
from ussd_server.metrics import CONTENT_TYPE_LATEST
from ussd_server.payments.providers import MOBILE_MONEY
from ussd_server.sessions.store import SessionStoreUnavailable
from ussd_server.sms.backends import InboxBackend
from ussd_server.sms.delivery_reports import InvalidDeliveryReport, apply_delivery_report, parse_delivery_report

log = logging.getLogger("enerlectra.http")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type not in FORM_TYPES:
        raise web.HTTPUnsupportedMediaType(text="send a form (application/x-www-form-urlencoded)")
    try:
        form = await request.post()  # over client_max_size: aiohttp answers 413
    except UnicodeDecodeError:
        raise web.HTTPBadRequest(text="the form is not UTF-8") from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def ussd(request: web.Request) -> web.Response:
    try:
        callback = parse_callback(await _form(request))
    except BadRequest as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    body = await request.app[USSD].hop(callback)
    return web.Response(text=body, content_type="text/plain")


def _int(value: str) -> int:
    return int(value) if value.isascii() and value.isdigit() and len(value) < 12 else 0


async def ussd_events(request: web.Request) -> web.Response:
    """AT's end-of-session notification: kept per session with the screen it ended on."""
    form = await _form(request)
    session_id = form.get("sessionId", "").strip()
    if not session_id or len(session_id) > 200:
        raise web.HTTPBadRequest(text="missing or bad sessionId")
    last_screen = ""
    with contextlib.suppress(SessionStoreUnavailable):
        session = await request.app[SESSIONS].load(session_id)
        last_screen = session.state if session else ""
    event = UssdSessionEnd(
        session_id=session_id,
        status=form.get("status", "")[:20],
        last_screen=last_screen,
        hops=_int(form.get("hopsCount", "")),
        duration_ms=_int(form.get("durationInMillis", "")),
        error=form.get("errorMessage", "")[:200],
    )
    await request.app[PLATFORM].record_ussd_end(event)
    log.info(
        "session-end session=%s status=%s screen=%s hops=%s",
        logfield(session_id, 40),
        logfield(event.status),
        logfield(last_screen),
        event.hops,
    )
    return web.Response(text="OK", content_type="text/plain")


async def sms_delivery(request: web.Request) -> web.Response:
    """AT delivery reports. 200 even for a report we cannot match: AT would only resend it."""
    try:
        report = parse_delivery_report(await _form(request))
    except InvalidDeliveryReport as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    changed = await apply_delivery_report(request.app[PLATFORM].sms_outbox, report)
    if report.is_final:  # progress reports (Sent, Buffered...) would only be noise
        log.info(
            "sms-delivery ref=%s status=%s phone=%s reason=%s%s",
            logfield(report.provider_ref, 80),
            report.status.value,
            log_phone(report.phone),
            logfield(report.failure_reason, 80) or "-",
            "" if changed else " (no outbox row changed: unknown or repeated)",
        )
    return web.Response(text="OK", content_type="text/plain")


async def dev_inbox(request: web.Request) -> web.Response:
    """Dev only: the SMS a phone received, for the simulator (SMS_BACKEND=inbox)."""
    backend = request.app[SMS_BACKEND]
    if not request.app[SETTINGS].dev_mode or not isinstance(backend, InboxBackend):
        raise web.HTTPNotFound()
    phone = request.query.get("phone", "")
    messages = [{"to": m.to, "text": m.text, "at": m.at} for m in backend.messages(phone)]
    return web.json_response({"phone": phone, "messages": messages})


async def dev_momo(request: web.Request) -> web.Response:
    """Dev only: where the embedded provider simulator listens (the phone simulator shows its approval prompts)."""
    url = request.app[MOBILE_MONEY].simulator_url
    if not request.app[SETTINGS].dev_mode or url is None:
        raise web.HTTPNotFound()
    return web.json_response({"simulator_url": url})


async def health(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        await request.app[PLATFORM].check_database()
        checks["database"] = "ok"
    except Exception as exc:  # reported, not hidden: /health is for operators
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        checks["sessions"] = "ok" if await request.app[SESSIONS].ping() else "error: no answer"
    except Exception as exc:
        checks["sessions"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    platform = request.app[PLATFORM]
    kdf = request.app[KDF_POOL]
    # Load, not health: a deep PIN queue sheds checks by design and does not make the service degraded.
    pin_queue = {
        "pending": kdf.pending,
        "expected_wait_ms": round(kdf.expected_wait_s() * 1000),
        "shed": kdf.shed,
        "runs": kdf.runs,
    }
    body = {"status": "ok" if ok else "degraded", "backend": platform.backend, **checks, "pin_queue": pin_queue}
    return web.json_response(body, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition; the database's numbers are read now (a failed read keeps the last values)."""
    collected = request.app[METRICS]
    try:
        await collected.refresh_from(request.app[PLATFORM])
    except Exception as exc:
        log.warning("metrics: could not read the database (%s)", type(exc).__name__)
    return web.Response(body=collected.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/ussd", ussd)
    app.router.add_post("/ussd/events", ussd_events)
    app.router.add_post("/sms/delivery", sms_delivery)
    app.router.add_get("/dev/sms", dev_inbox)
    app.router.add_get("/dev/momo", dev_momo)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
