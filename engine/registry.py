"""The one registry: techniques, search spaces and hardware profiles.

Each technique subpackage registers itself once when imported; the registry
imports the built-in ones lazily the first time a list is asked for. A
duplicate name is refused, as torchvision does.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterable, Iterator, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from .config import ConfigBase
    from .hardware.profile import HardwareProfile
    from .reporter import Reporter, Summary

__all__ = ["Registry", "Technique", "techniques", "spaces", "register_technique", "get_technique",
           "BUILTIN_MODULES"]

T = TypeVar("T")
_SLUG = re.compile(r"^[a-z][a-z0-9-]{1,48}$")

#: Modules that register the built-in techniques and spaces when imported.
BUILTIN_MODULES: tuple[str, ...] = (
    "engine.modelzoo",
    "engine.spaces",
    "engine.latencymodel",
    "engine.nas",
    "engine.dlg",
    "engine.tinytl",
    "engine.networks.technique",
    "engine.amc",
    "engine.haq",
    "engine.sparsenet",
    "engine.forecast",
    "engine.hat",
)


class Registry(Generic[T]):
    """Items by slug; a duplicate name is refused. ``builtins=False`` for a registry
    whose items register themselves when their package is imported (datasets), so
    reading it does not import the built-in techniques."""

    def __init__(self, what: str, *, builtins: bool = True):
        self.what = what
        self._builtins = builtins
        self._items: dict[str, T] = {}

    def _load(self) -> None:
        if self._builtins:
            _load_builtins()

    def add(self, name: str, item: T) -> T:
        if not _SLUG.match(name):
            raise ValueError(f"{self.what} name {name!r} must be a lowercase slug")
        if name in self._items:
            raise ValueError(f"{self.what} {name!r} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"unknown {self.what} {name!r}; known: {', '.join(sorted(self._items))}") from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        self._load()
        return sorted(self._items.items())

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


@dataclass(frozen=True)
class Technique:
    """A registered technique: its Config class, its ``run`` and how to plot it."""

    name: str
    title: str
    summary: str
    config_cls: type["ConfigBase"]
    run: Callable[["ConfigBase", "HardwareProfile", "Reporter"], "Summary"]
    #: Metrics the Pareto front is computed on, with their direction.
    objectives: dict[str, str] = field(default_factory=lambda: {"latency_ms": "min", "accuracy": "max"})
    #: Default axes of the scatter plot (x, y).
    axes: tuple[str, str] = ("latency_ms", "accuracy")
    paper: str = ""
    #: Runs on the profile's device queue when latency is to be measured there.
    wants_device: bool = False
    #: The smallest config (a dict for ``Config.from_dict``) that runs in about a
    #: second; the contract test runs every technique with it.
    smoke: dict[str, Any] = field(default_factory=dict)
    #: Objectives and axes used instead when a run's candidates lack one of
    #: ``objectives`` / ``axes`` (model-zoo without training has no accuracy).
    fallback_objectives: dict[str, str] = field(default_factory=dict)
    #: stacked-bar charts of where a quantity goes, per candidate:
    #: {chart title: (metric, metric, …)} (e.g. TinyTL's training memory)
    breakdown: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fallback_axes: tuple[str, str] | None = None
    #: a text metric that groups candidates in the scatter: one colour and one
    #: front per value (e.g. the aggregation rule of SparseNets)
    group_by: str = ""
    #: a re-run with the same settings continues from the checkpoint a killed run
    #: left (AMC between episodes); one that does not starts over, its partial
    #: results cleared, when the dashboard retries it after a lost worker
    resumes: bool = False

    def parse(self, data: dict[str, Any] | None, *, strict: bool = False) -> "ConfigBase":
        """The technique's Config from ``data``; ``strict`` for typed input (a JSON body)."""
        return self.config_cls.from_dict(data, strict=strict)

    def objectives_for(self, metric_names: Iterable[str]) -> dict[str, str]:
        """The objectives of a run whose candidates report ``metric_names``."""
        names = set(metric_names)
        if self.fallback_objectives and not all(m in names for m in self.objectives):
            return dict(self.fallback_objectives)
        return dict(self.objectives)

    def axes_for(self, metric_names: Iterable[str]) -> tuple[str, str]:
        """The scatter axes of a run whose candidates report ``metric_names``."""
        names = set(metric_names)
        if self.fallback_axes is not None and not all(a in names for a in self.axes):
            return self.fallback_axes
        return self.axes


techniques: Registry[Technique] = Registry("technique")
spaces: Registry[Any] = Registry("search space")

_loaded = False


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in BUILTIN_MODULES:
        importlib.import_module(mod)


def register_technique(technique: Technique) -> Technique:
    """Register ``technique``; the registered one's ``run`` is the technique's
    inside :func:`engine.seeding.deterministic` (every global generator seeded
    from the config's seed, deterministic algorithms on), so every caller (the
    CLI, the dashboard's worker, benches, tests) runs it alike. Returns the
    registered technique."""
    from dataclasses import replace

    from .seeding import seeded_run  # imports torch: only once a technique (which needs it anyway) registers

    for obj in (*technique.objectives.values(), *technique.fallback_objectives.values()):
        if obj not in ("min", "max"):
            raise ValueError(f"objective direction must be 'min' or 'max', not {obj!r}")
    return techniques.add(technique.name, replace(technique, run=seeded_run(technique.run)))


def get_technique(name: str) -> Technique:
    return techniques.get(name)
