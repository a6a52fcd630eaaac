"""The app a pydantic-ai agent is served by to a browser, for `pydantic_ai_loop(ui=...)`.

pydantic-ai's UI adapters (``pydantic_ai/ui/_adapter.py``: ``UIAdapter.dispatch_request``, the
AG-UI one in ``ui/ag_ui``, the Vercel AI one in ``ui/vercel_ai``) turn a Starlette request into a
streaming SSE response of the protocol's events; a one-route Starlette app (what the pydantic-ai
docs show for FastAPI) is therefore the app a user ships, and `asgi_loop` runs it. The request
bodies are the protocols' own: AG-UI's ``RunAgentInput`` and the Vercel AI SDK's
``submit-message`` (``ui/vercel_ai/request_types.py``), with one user message. Ids are fixed:
the adapter's run gets its seeded run id, and the bodies must be byte-stable for a seed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agentsim.frameworks.pydantic_ai._delegation import delegation

__all__ = ["ui_app", "ui_body"]


def ui_app(agent: Any, ui: str, options: Mapping[str, Any]) -> Any:
    from pydantic_ai.ui.ag_ui import AGUIAdapter
    from pydantic_ai.ui.vercel_ai import VercelAIAdapter
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    adapter: Any = AGUIAdapter if ui == "agui" else VercelAIAdapter

    async def endpoint(request: Request) -> Response:
        # Delegating calls' requests are kept apart (their sub-run events are not sent: the
        # dialects' SSE is pydantic-ai's, which has none).
        run_options = dict(options)
        extra = [*(run_options.get("capabilities") or ()), delegation(lambda events: None)]
        run_options["capabilities"] = extra
        response: Response = await adapter.dispatch_request(request, agent=agent, **run_options)
        return response

    return Starlette(routes=[Route("/", endpoint, methods=["POST"])])


def ui_body(ui: str) -> Callable[[str], Any]:
    if ui == "agui":
        return lambda text: {
            "threadId": "thread_1",
            "runId": "run_1",
            "state": None,
            "messages": [{"id": "msg_1", "role": "user", "content": text}],
            "tools": [],
            "context": [],
            "forwardedProps": None,
        }
    return lambda text: {
        "trigger": "submit-message",
        "id": "chat_1",
        "messages": [{"id": "msg_1", "role": "user", "parts": [{"type": "text", "text": text}]}],
    }
