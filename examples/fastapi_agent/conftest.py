"""The app reads its API key from the environment, as deployed apps do; agentsim answers every
request, so any key will do."""

import os

os.environ.setdefault("OPENAI_API_KEY", "sk-agentsim-example")
