"""Which classes of a dataset to keep: ``"all"``, or indices and ranges."""
from __future__ import annotations

__all__ = ["parse_classes"]


def parse_classes(spec: str, num_classes: int | None = None) -> list[int] | None:
    """``"all"`` -> None; ``"0-4"`` / ``"1,3,5-7"`` -> sorted class indices."""
    spec = spec.strip().lower()
    if spec in ("", "all"):
        return None
    out: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi) if hi else int(lo)
        except ValueError:
            raise ValueError(f"{part!r} is not a class index or a range like 0-4") from None
        if a < 0 or b < a:
            raise ValueError(f"bad range {part!r}")
        out.update(range(a, b + 1))
    if num_classes is not None and out and max(out) >= num_classes:
        raise ValueError(f"class {max(out)} does not exist (the dataset has {num_classes})")
    if len(out) < 2:
        raise ValueError("choose at least 2 classes")
    return sorted(out)
