"""Frontier's engine: a plain PyTorch library (no Django, no Celery).

    from engine import techniques, MemoryReporter
    from engine.hardware import get_profile
    t = techniques.get("model-zoo")
    summary = t.run(t.parse({"models": ["resnet18"]}), get_profile("local-cpu"), MemoryReporter())
"""
from .config import ConfigBase, ConfigError, param
from .registry import Technique, get_technique, register_technique, spaces, techniques
from .reporter import Cancelled, MemoryReporter, Reporter, Summary

__all__ = ["ConfigBase", "ConfigError", "param", "Technique", "get_technique", "register_technique",
           "spaces", "techniques", "Cancelled", "MemoryReporter", "Reporter", "Summary"]
