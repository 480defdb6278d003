"""Experiment presets, installed as ``metarl.experiments``: one file per experiment."""
