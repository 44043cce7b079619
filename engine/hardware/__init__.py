"""Hardware profiles, the cost model and latency sources."""
from .profile import HardwareProfile, ProfileError, builtin_profiles, get_profile, local_cpu_profile

__all__ = ["HardwareProfile", "ProfileError", "builtin_profiles", "get_profile", "local_cpu_profile"]
