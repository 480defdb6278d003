"""What agents build on: the Agent interface and shared networks."""
from metarl.learning.agent import Agent, family_spaces

__all__ = ["Agent", "family_spaces"]
