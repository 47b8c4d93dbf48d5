"""Terminal feature-phone simulator speaking the Africa's Talking USSD protocol.

Layers, each usable on its own (imports go one way, top to bottom):

- ``numbers``: Zambian numbers, operators and their (illustrative) networkCodes.
- ``protocol``: the AT gateway side: form callbacks, one ``PhoneSession`` per dial,
  end-of-session notifications, gateway timeouts on an injectable clock.
- ``sms``: reading a phone's SMS (in-process inbox, or ``GET /dev/sms``).
- ``target``: the server: one at ``--url``, or the real app started in-process.
- ``phone``: handsets with their own session and inbox; the desk of phones.
- ``screen``: wrapping and scrolling USSD text like a small phone display.
- ``scenario_file`` / ``scenarios``: YAML scenarios, the runner and its report.
- ``recorder``: ``--record`` writes what you did as a scenario.
- ``tui``: the interactive app, built on Textual (why: see its docstring).

``python -m simulator`` opens the phone; ``python -m simulator run FILES`` runs scenarios.
"""
