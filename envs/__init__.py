"""Task families, installed as ``metarl.envs``; built-ins are listed by name in ``metarl.registry``."""
