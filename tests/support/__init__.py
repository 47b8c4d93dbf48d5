"""What every test layer and the benchmarks share: throwaway services, server processes, one gateway.

``tests/unit``, ``tests/integration``, ``tests/e2e``, ``tests/drills`` and
``bench`` import from here (and from ``simulator``), never from each other
(``tests/unit/test_test_layers.py`` checks it). Nothing here is a test and
nothing here imports a test layer.

- ``ports``: a free local TCP port.
- ``processes``: a child process with its log, its own process group, gone when we are.
- ``redis``: the shared Redis's URL, and throwaway redis-server processes to stop, hang and restart.
- ``postgres``: throwaway databases on the running PostgreSQL server.
- ``servers``: ``enerlectra`` CLI runs and ``enerlectra serve`` (or any HTTP service) as processes.
- ``phones``: phone numbers no other test of this run uses.
- ``gateway``: Africa's Talking's side of the USSD protocol for tests (on ``simulator.protocol``).
- ``markers``: the ``postgres``/``redis`` markers that let ``make test-fast`` leave those tests out.
"""
