import pytest


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FRONTIER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"
