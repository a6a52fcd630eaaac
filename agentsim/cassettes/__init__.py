"""cassettes layer."""
