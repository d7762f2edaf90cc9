"""Shared test settings: hypothesis profiles sized for 2-core CI machines."""
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile(
    "dev", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# CI=true (as CI services and .ci/run set it): the same examples on every run, so a red build is
# reproducible; elsewhere fresh examples each run, or the profile named by NNX_HYPOTHESIS_PROFILE.
_ci = os.environ.get("CI", "").lower() in ("true", "1", "yes")
settings.load_profile("ci" if _ci else os.environ.get("NNX_HYPOTHESIS_PROFILE", "dev"))
