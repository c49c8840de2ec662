"""Suite-wide settings: small thread pools and a private cache.

On a 2-core CI machine, oversubscribed BLAS/OpenMP pools make tiny-model tests 10–60× slower;
one thread per process keeps the suite fast and its timings stable. The feature / corpus
cache goes to a per-session folder so tests never depend on (or pollute) ~/.cache.
"""

import os
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
if "CATUVAC_CACHE" not in os.environ:
    os.environ["CATUVAC_CACHE"] = tempfile.mkdtemp(prefix="catuvac-test-cache-")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def device_export(tmp_path_factory):
    """A small ``arch="device"`` model exported with its incremental graphs (tests/helpers/device_model.py)."""
    from tests.helpers.device_model import export_device_model

    return export_device_model(tmp_path_factory.mktemp("device"))
