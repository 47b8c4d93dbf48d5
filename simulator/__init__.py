"""Terminal feature-phone simulator speaking the Africa's Talking USSD protocol.

Layers, each usable on its own (imports go one way, top to bottom):

- ``numbers``: Zambian numbers, operators and their (illustrative) networkCodes.
- ``protocol``: the AT gateway side: form callbacks, one ``PhoneSession`` per dial,
  end-of-session notifications, gateway timeouts on an injectable clock.
- ``sms``: reading a phone's SMS (in-process inbox, or ``GET /dev/sms``).
- ``momo_prompt``: a handset's mobile-money approval prompts, from the provider
  simulator the server names at ``GET /dev/momo``; answered with a MoMo PIN or 2.
- ``target``: the server: one at ``--url``, or the real app started in-process.
- ``phone``: handsets with their own session, inbox and MoMo prompts; the desk of phones.
- ``screen``: wrapping and scrolling USSD text like a small phone display.
- ``scenario_file`` / ``scenarios``: YAML scenarios, the runner and its report.
- ``recorder``: ``--record`` writes what you did as a scenario.
- ``tui`` (+ ``tui_help``, its F1 screen): the interactive app, built on Textual (why: see its docstring).

``python -m simulator`` opens the phone; ``python -m simulator run FILES`` runs scenarios.

Deposits: the server asks the mobile-money provider to collect, and the
provider pushes "Pay K50.00 to ENERLECTRA? Enter MoMo PIN" to the user's
handset. Every phone on the desk asks for such prompts about once a second; the
one in your hand pops it up over its display and the keypad answers it (any
4-digit PIN approves, 2 or Esc rejects), then the server's SMS arrives as
usual. The in-process server's provider simulator leaves every deposit to the
handset (``MOMO_SIM_APPROVE_AFTER_MS=0`` unless set in the shell or with
``--server-env``); with ``--url``, whatever the server's ``/dev/momo`` names is
used, and a server without one (404) simply sends no prompts. Scenarios answer
prompts with the ``approve`` and ``reject`` steps.
"""
