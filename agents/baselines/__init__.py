"""Non-meta and classic baselines."""
