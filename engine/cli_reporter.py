"""The CLI's reporter: collects a run for writing into a results folder."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from .outputs import NetworkOutput, Output
from .reporter import Reporter

__all__ = ["DirectoryReporter"]


class DirectoryReporter(Reporter):
    """Collects a run for writing into a folder: artifact files are copied into
    ``artifacts_dir`` as soon as they are handed over; progress drives a tqdm bar.
    A typed output is listed with the paths of its files in the folder (files
    already handed over as artifacts are not copied twice); a network's folder
    is copied whole into ``networks/``.

    ``request_cancel()`` (the CLI's Ctrl-C handler) makes the next reporter
    call raise :class:`~engine.reporter.Cancelled`.
    """

    def __init__(self, artifacts_dir: str | Path, *, workdir: str | Path | None = None, progress_bar: bool = True):
        super().__init__(workdir)
        self.artifacts_dir = Path(artifacts_dir)
        self.candidates: list[tuple[dict, dict]] = []
        self.points: dict[str, list[tuple[float, float]]] = {}
        self.artifacts: list[dict[str, Any]] = []
        self.outputs: list[dict[str, Any]] = []
        self.last_progress: tuple[float, str] = (0.0, "")
        self._copied: dict[Path, str] = {}  # source file -> its path in the results folder
        self._cancel = False
        self._bar = None
        if progress_bar:
            from tqdm import tqdm

            self._bar = tqdm(total=1000, file=sys.stderr, dynamic_ncols=True, mininterval=0.2,
                             bar_format="{percentage:3.0f}%|{bar}| [{elapsed}<{remaining}] {desc}")

    def request_cancel(self) -> None:
        self._cancel = True

    def is_cancelled(self) -> bool:
        return self._cancel

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _on_progress(self, fraction: float, message: str) -> None:
        self.last_progress = (fraction, message)
        if self._bar is not None:
            self._bar.n = int(round(fraction * 1000))
            self._bar.set_description_str(f"{len(self.candidates)} candidates | {message[:70]}", refresh=False)
            self._bar.refresh()

    def _on_candidate(self, architecture: dict, metrics: dict) -> None:
        self.candidates.append((architecture, metrics))

    def _on_series(self, name: str, step: float, value: float) -> None:
        self.points.setdefault(name, []).append((step, value))

    def _on_artifact(self, kind: str, path: Path, caption: str, group: str, candidate: int | None = None) -> None:
        self.artifacts.append({"kind": kind, "path": self._copy(path, group), "caption": caption, "group": group,
                               "candidate": candidate})

    def _on_output(self, obj: Output) -> None:
        if isinstance(obj, NetworkOutput):  # a network keeps its folder: results/networks/<name>/
            target = self.artifacts_dir.parent / "networks" / _safe_name(obj.folder.name)
            shutil.copytree(obj.folder, target, dirs_exist_ok=True)
            self.outputs.append({"kind": obj.kind, "folder": target.relative_to(self.artifacts_dir.parent).as_posix(),
                                 "candidate": obj.candidate})
            return
        if not obj.files():  # data only (a network's latencies)
            self.outputs.append({"kind": obj.kind, **{k: v for k, v in vars(obj).items()}})
            return
        self.outputs.append({"kind": obj.kind, **{name: self._copied.get(path.resolve()) or self._copy(path, obj.kind)
                                                  for name, path in obj.files().items()}})

    def _copy(self, path: Path, group: str) -> str:
        folder = self.artifacts_dir / _safe_name(group) if group else self.artifacts_dir
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / _safe_name(path.name)
        k = 1
        while target.exists():
            target = folder / f"{_safe_name(path.stem)}-{k}{path.suffix}"
            k += 1
        shutil.copy2(path, target)
        self._copied[path.resolve()] = rel = target.relative_to(self.artifacts_dir.parent).as_posix()
        return rel


def _safe_name(name: str) -> str:
    out = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".")
    return out[:120] or "file"
