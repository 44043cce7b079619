"""Serve plotly.min.js straight from the installed plotly wheel (no CDN, no copy)."""
from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

_DIR = Path(plotly.__file__).parent / "package_data"
_NAME = "vendor/plotly.min.js"


class PlotlyFinder(BaseFinder):
    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        if path == _NAME:
            f = str(_DIR / "plotly.min.js")
            return [f] if find_all else f
        return [] if find_all else None

    def list(self, ignore_patterns):
        storage = FileSystemStorage(location=str(_DIR))
        storage.prefix = "vendor"
        yield "plotly.min.js", storage
