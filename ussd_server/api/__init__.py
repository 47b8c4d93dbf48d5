"""The REST API at /api/v1: a second entry point onto the same engine services as USSD.

Nothing here reaches past ``engine.platform.Platform`` (no storage imports):
the API is another face of the services, with the same rules and error codes.
"""
