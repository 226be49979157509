"""Shared set-up of the Python package's tests: the package from this source
tree (python/), the library from SWITCHC_LIBRARY (ctest sets it to the
build's libswitchc.so) and the reference fixtures from SWITCHC_FIXTURES_DIR
(default: the repository's tests/fixtures)."""

import json
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

FIXTURES = os.environ.get("SWITCHC_FIXTURES_DIR") or os.path.join(HERE, "..", "..", "tests", "fixtures")
MODELS = os.path.join(FIXTURES, "models")


def inference_cases():
    """Every inference case: a directory with a manifest listing arrays;
    the training cases (train_*) have their own tests."""
    out = []
    for name in sorted(os.listdir(MODELS)):
        if name.startswith("train_"):
            continue
        if os.path.isfile(os.path.join(MODELS, name, "manifest.json")):
            out.append(name)
    return out


class Case:
    """A fixture case: its manifest and its arrays by name (numpy)."""

    def __init__(self, name):
        self.name = name
        self.dir = os.path.join(MODELS, name)
        with open(os.path.join(self.dir, "manifest.json"), encoding="utf-8") as f:
            self.manifest = json.load(f)
        self._arrays = {a["name"]: a for a in self.manifest["arrays"]}

    def has(self, name):
        return name in self._arrays

    def array(self, name):
        a = self._arrays[name]
        dt = {"float32": "<f4", "int32": "<i4"}[a["dtype"]]
        return np.fromfile(os.path.join(self.dir, a["file"]), dtype=dt).reshape(a["shape"])


def assert_close(got, want, what, atol=1e-4, rtol=1e-4):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, want {want.shape}"
    excess = np.abs(got - want) - (atol + rtol * np.abs(want))
    worst = float(np.max(excess)) if excess.size else -1.0
    assert worst <= 0, (f"{what}: off by up to {float(np.max(np.abs(got - want))):.3g} "
                        f"(tolerance {atol} + {rtol}*|ref|)")


@pytest.fixture(scope="session")
def switchc():
    import switchc as sc
    return sc
