"""Search spaces, registered by name in ``engine.registry.spaces``.

``spaces.get("mbconv")`` is the space *class*; ``spaces.get("mbconv")()`` the
default space, ``spaces.get("mbconv")(**params)`` a customised one.
"""
from ..registry import spaces
from .base import ArchError, OpSpec, SearchSpace
from .mbconv import MBConvNet, MBConvSpace

if "mbconv" not in spaces._items:  # registering twice (a module reload) is refused by the registry
    spaces.add("mbconv", MBConvSpace)


def get_space(name: str, **params) -> SearchSpace:
    """An instance of the registered space ``name`` with ``params``."""
    return spaces.get(name)(**params)


__all__ = ["ArchError", "OpSpec", "SearchSpace", "MBConvNet", "MBConvSpace", "get_space"]
