"""Layers. Static layers live in their own modules (``mbconv``); elastic
super-net layers live in ``elastic*.py`` and hand out static modules."""
from .mbconv import ClassifierHead, ConvBNAct, MBConvBlock, make_divisible

__all__ = ["ClassifierHead", "ConvBNAct", "MBConvBlock", "make_divisible"]
