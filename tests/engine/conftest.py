import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Engine tests use tiny models: one intra-op thread is fastest and
    steadiest on a shared 2-core machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
