"""Mobile-money providers over HTTP: the adapters behind ``engine.payments.ports.PaymentProvider``.

- ``http``: one request that never raises, the token cache, exact amounts, number formats.
- ``mtn``: MTN MoMo Open API (``MtnMomo``, ``MtnConfig``, ``parse_mtn_callback``).
- ``airtel``: Airtel Money Africa API (``AirtelMoney``, ``AirtelConfig``, ``parse_airtel_callback``).
- ``directory``: ``Providers``, the adapters by provider, closing their session.

They never import the simulator (``simulator.momo``); tests run them against it over real HTTP.
"""
