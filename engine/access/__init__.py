"""access: who may call the platform from outside USSD (API keys, user tokens) and idempotency records."""
