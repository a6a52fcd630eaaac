"""The one-file loop spec of the Vercel chat app, as the issue's done-when gives it."""

from agentsim.adapters import asgi_loop
from tests.adapters.apps.chat_vercel import app

loop = asgi_loop(
    app,
    path="/api/chat",
    body=lambda text: {"message": text},
    api="openai-chat",
    features={"tools", "parallel_tools"},
)
