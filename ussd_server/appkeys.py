"""Typed keys for what the app holds (a leaf: routes and the factory both import it)."""

from __future__ import annotations

from aiohttp import web

from engine.platform import Platform
from ussd_server.gateway import UssdService
from ussd_server.kdf_pool import KdfPool
from ussd_server.metrics import Metrics
from ussd_server.rate_limits import RateLimiter
from ussd_server.sessions.store import SessionStore
from ussd_server.settings import Settings
from ussd_server.sms.backends import SmsBackend
from ussd_server.sms.worker import OutboxWorker

PLATFORM = web.AppKey("platform", Platform)
SETTINGS = web.AppKey("settings", Settings)
SESSIONS = web.AppKey("sessions", SessionStore)
USSD = web.AppKey("ussd", UssdService)
SMS_BACKEND = web.AppKey("sms_backend", SmsBackend)
OUTBOX_WORKER = web.AppKey("outbox_worker", OutboxWorker)
# The PIN KDF threads: made and closed with the app; /health reports their queue.
KDF_POOL = web.AppKey("kdf_pool", KdfPool)
METRICS = web.AppKey("metrics", Metrics)
# Shared counters (Redis or process memory): gateway auth failures, and per-phone hop and PIN budgets.
RATE_LIMITS = web.AppKey("rate_limits", RateLimiter)
