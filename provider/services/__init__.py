"""Domain rules. Nothing here imports Flask."""
