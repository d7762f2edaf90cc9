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


# ---- SIMD paths: kernel tests run on every path this CPU has -------------------------------------
# A kernel test module writes `pytestmark = pytest.mark.usefixtures("simd")` (or a test takes `simd`
# as an argument) and each of its tests runs once per path, widest first, with that path forced.
# Through `usefixtures` the fixture also covers @given tests: hypothesis only objects to
# function-scoped fixtures among the test's own arguments.
import pytest  # noqa: E402

import nnx.kernels  # noqa: E402


@pytest.fixture(params=nnx.kernels.info()["simd_available"])
def simd(request):
    """Force one SIMD path for the test (its name is the value); the previous path comes back after."""
    before = nnx.kernels.info()["simd"]
    nnx.kernels.set_simd(request.param)
    yield request.param
    nnx.kernels.set_simd(before)
