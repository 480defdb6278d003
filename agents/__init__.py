"""Agents, installed as ``metarl.agents``; built-ins are registered by name in ``metarl.registry``."""
