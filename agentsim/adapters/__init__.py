"""Adapters: the code people ship (ASGI SSE endpoints, SSE generator functions) as agentsim loops.

`asgi_loop(app, path=..., body=..., api=...)` and `sse_loop(fn, api=...)` turn an unmodified app
into an object with the loop protocol's ``run``, so `agentsim run / fuzz / shrink --loop`, the
cancellation sweep, M1-M3 and the pytest plugin reach it as they reach the reference loop. Each
run intercepts the app's provider calls (`agentsim.serve`'s intercept, answered from the run's
provider), decodes its SSE response live with the dialect decoders (`agentsim.sse`), turns a
cancel or a consumer drop into a client disconnect, and reports the dialect's rules (S2) along
with the invariants. `_live` is the run, `_loops` the two adapters and the tool probe.

May import: every layer below it (core to serve). Must not import: fuzz, pytest or the CLI.
"""

from __future__ import annotations

from agentsim.adapters._live import AdapterRun
from agentsim.adapters._loops import AdapterLoop, asgi_loop, offered_tool_names, sse_loop
from agentsim.core._exports import check_exports

__all__ = ["AdapterLoop", "AdapterRun", "asgi_loop", "offered_tool_names", "sse_loop"]

check_exports(__name__, globals(), __all__)
