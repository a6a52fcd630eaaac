"""The loop spec: the app as agentsim sees it (`agentsim fuzz --loop spec:loop`)."""

from app import app, make_app

from agentsim.adapters import asgi_loop

loop = asgi_loop(
    app,
    path="/api/chat",
    body=lambda text: {"message": text},
    api="openai-chat",
    features={"tools", "parallel_tools"},
)

# The same endpoint with the planted bug (tool results never sent back to the model).
buggy = asgi_loop(
    make_app(forget_results=True),
    path="/api/chat",
    body=lambda text: {"message": text},
    api="openai-chat",
    features={"tools", "parallel_tools"},
)
