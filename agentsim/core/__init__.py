"""core: the vocabulary and the clock, which every other layer speaks.

Chunks (what a provider stream yields), agent events (what a loop emits), the history (what a loop
keeps), usage, tools (`Tool`, `Toolset`), the runtime (seeded ids, virtual clock, cancel token), the
virtual event loop, WHATWG SSE framing (shared by the wire codecs and the SSE dialects) and the
errors. Pure data and small mechanisms, no policy.

May import: nothing of agentsim. Everything else may import it. Public names are re-exported from
`agentsim` (and framing from `agentsim.sse`); the modules here are private.
"""
