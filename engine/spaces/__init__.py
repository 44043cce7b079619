"""Search spaces, registered by name in ``engine.registry.spaces``.

``spaces.get("mbconv")`` is the space *class*; ``spaces.get("mbconv")()`` the
default space, ``spaces.get("mbconv")(**params)`` a customised one.
"""
from ..registry import spaces
from typing import Any

from .base import ArchError, OpSpec, SearchSpace, describe_pairs
from .aggregation import AggregationSpace
from .mbconv import MBConvNet, MBConvSpace
from .transformer import HATSpace

if "mbconv" not in spaces._items:  # registering twice (a module reload) is refused by the registry
    spaces.add("mbconv", MBConvSpace)
if "aggregation" not in spaces._items:
    spaces.add("aggregation", AggregationSpace)
if "hat" not in spaces._items:
    spaces.add("hat", HATSpace)


def get_space(name: str, **params) -> SearchSpace:
    """An instance of the registered space ``name`` with ``params``."""
    return spaces.get(name)(**params)


def describe_arch(arch: dict[str, Any]) -> str:
    """One line of text for a reported architecture: the space it names
    (``arch["space"]``, as ``structure()`` records it) describes it; an
    architecture of no registered space reads as key=value pairs."""
    name = arch.get("space") if isinstance(arch, dict) else None
    if isinstance(name, str) and name in spaces:
        try:
            return spaces.get(name)().describe(arch)
        except (KeyError, TypeError, ValueError, IndexError):  # not what the space makes: show it as it is
            pass
    return describe_pairs(arch) if isinstance(arch, dict) else str(arch)


__all__ = ["ArchError", "OpSpec", "SearchSpace", "MBConvNet", "MBConvSpace", "AggregationSpace", "HATSpace", "get_space", "describe_arch",
           "describe_pairs"]
