"""The one-file loop spec of the AG-UI app."""

from agentsim.adapters import asgi_loop
from tests.adapters.apps.agui_anthropic import app

loop = asgi_loop(
    app,
    path="/agent",
    body=lambda text: {"prompt": text},
    api="anthropic",
    features={"tools", "parallel_tools"},
)
