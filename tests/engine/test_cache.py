"""The one cache folder helper."""
from pathlib import Path

from engine.cache import cache_dir


def test_cache_dir_follows_the_environment_and_joins_parts(tmp_path, monkeypatch):
    monkeypatch.setenv("FRONTIER_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == (tmp_path / "c").resolve()
    assert cache_dir("luts", "x.json") == (tmp_path / "c" / "luts" / "x.json").resolve()
    assert not (tmp_path / "c").exists()  # not created


def test_cache_dir_default_is_absolute_var_cache(monkeypatch):
    monkeypatch.delenv("FRONTIER_CACHE_DIR", raising=False)
    assert cache_dir().is_absolute() and cache_dir() == Path("var/cache").resolve()


def test_checkpoints_and_pretrained_weights_share_it(tmp_path, monkeypatch):
    from engine.supernet.checkpoint import checkpoint_dir

    monkeypatch.setenv("FRONTIER_CACHE_DIR", str(tmp_path))
    assert checkpoint_dir() == cache_dir("checkpoints")
