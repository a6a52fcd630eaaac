"""sse layer."""
