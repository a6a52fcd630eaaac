"""The Vercel chat app declaring what it does with provider failures: ``provider_errors`` (every
failure of the provider call or its stream becomes a Vercel ``error`` part) and ``retries`` (the
openai SDK's own max_retries=2 retries 429 / 5xx answers, after Retry-After, before output)."""

from agentsim.adapters import asgi_loop
from tests.adapters.apps.chat_vercel import app

loop = asgi_loop(
    app,
    path="/api/chat",
    body=lambda text: {"message": text},
    api="openai-chat",
    features={"tools", "parallel_tools", "provider_errors", "retries"},
)
