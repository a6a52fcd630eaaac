"""loop: the loop protocol and the reference loop.

`_protocol` is the contract any loop under test speaks (provider, tools and request in; events out;
history at the end). The reference loop is a sans-IO state machine (`_machine`, with its tool phase
in `_tool_phase` and the actions it asks for in `_actions`) and a thin async driver (`_driver`) that
does the sleeping, timeouts and cancellation; `_hooks` are the hook and guardrail types (DESIGN §3).

May import: core. Must not import: checks, scenarios, codecs, SSE or anything above them - the
loop knows nothing of how it is tested.
"""
