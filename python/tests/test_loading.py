"""Where the package looks for the C library: SWITCHC_LIBRARY wins, then the
path recorded at install time (_install_path.py), then libswitchc.so.0 on
the loader's path; a library that cannot be loaded is an ImportError that
says what was tried and how to fix it."""

import os
import subprocess
import sys
import types

from conftest import HERE


def test_order(switchc, monkeypatch):
    from switchc import _lib
    monkeypatch.setenv("SWITCHC_LIBRARY", "/opt/x/libswitchc.so")
    assert [p for p, _ in _lib.library_candidates()] == ["/opt/x/libswitchc.so"]
    monkeypatch.delenv("SWITCHC_LIBRARY")
    recorded = types.ModuleType("switchc._install_path")
    recorded.LIBRARY = "/usr/local/lib/libswitchc.so.0"
    monkeypatch.setitem(sys.modules, "switchc._install_path", recorded)
    assert [p for p, _ in _lib.library_candidates()] == ["/usr/local/lib/libswitchc.so.0", "libswitchc.so.0"]
    monkeypatch.setitem(sys.modules, "switchc._install_path", None)  # no recorded path: import fails
    assert [p for p, _ in _lib.library_candidates()] == ["libswitchc.so.0"]


def test_unloadable_library_is_an_import_error(tmp_path):
    bogus = tmp_path / "libswitchc.so"
    bogus.write_text("not a library")
    env = dict(os.environ, SWITCHC_LIBRARY=str(bogus), PYTHONPATH=os.path.dirname(HERE),
               PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, "-c", "import switchc"], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode != 0
    assert "ImportError" in r.stderr and str(bogus) in r.stderr and "SWITCHC_LIBRARY" in r.stderr, r.stderr
