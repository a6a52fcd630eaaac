"""Serving scenarios to real clients: the fake provider endpoint for unmodified SDK code.

`_playback` is the sans-IO heart: it answers provider requests from a scenario (`ScenarioPlayback`),
checking each request and encoding the scripted chunks in the API's own wire format (`_api_requests`
reads requests, `_api_replies` writes answers). Around it: an HTTP/1.1 server on h11 (`_http11`,
`_server`: `agentsim serve`), an httpx transport on virtual time (`_transport`), the interception
of unmodified code's httpx / httpx2 clients (`_intercept`: `agentsim.intercept`), and the recording
proxy (`_recorder`: `agentsim record`).

May import: every layer below it (core to cassettes). Must not import: adapters, fuzzing, pytest or
the CLI.
"""

from __future__ import annotations

from agentsim.core._exports import check_exports
from agentsim.serve._intercept import OFFICIAL_HOSTS, Interception, intercept
from agentsim.serve._playback import ScenarioPlayback
from agentsim.serve._recorder import RecordingProxy
from agentsim.serve._server import ScenarioServer, serve_scenario
from agentsim.serve._transport import ScenarioTransport

__all__ = [
    "OFFICIAL_HOSTS",
    "Interception",
    "RecordingProxy",
    "ScenarioPlayback",
    "ScenarioServer",
    "ScenarioTransport",
    "intercept",
    "serve_scenario",
]

check_exports(__name__, globals(), __all__)
