"""pytest layer."""
