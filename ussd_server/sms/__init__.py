"""SMS delivery: the outbox worker, the backends it sends through, and delivery reports.

The engine writes outbox rows in the same transaction as what they report;
:class:`ussd_server.sms.worker.OutboxWorker` renders and sends them at least
once through an :class:`ussd_server.sms.backends.SmsBackend` (console, an
in-memory inbox for the simulator, or Africa's Talking), and
:mod:`ussd_server.sms.delivery_reports` turns the carrier's callbacks into
final statuses.
"""
