"""Menu features: one module per part of the menu, each declaring one ``FEATURE``.

A feature's ``FEATURE`` holds the actions, conditions, list sources and input
validators its screens name (in ``menus/features/<name>.yaml``; the home
feature's in ``menus/home.yaml``; ``inputs`` serves every file). Nothing here
registers itself on import: ``ussd_server.app.build_runtime()`` lists the
features it serves and builds the registry from them (docs/menus.md).
"""
