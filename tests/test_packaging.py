"""The installed package layout: graphconv and its subpackages, with passes/ as graphconv.passes.

pyproject.toml lists the packages explicitly (setuptools cannot combine a package search with the
passes/ -> graphconv.passes mapping), so a new subpackage folder must be added there; this test
says which one is missing. The installed layout itself is checked through the import system.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib

ROOT = Path(__file__).resolve().parent.parent


def _folders() -> set[str]:
    found = set()
    for init in (ROOT / "graphconv").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    for init in (ROOT / "passes").rglob("__init__.py"):
        found.add(".".join(("graphconv",) + init.parent.relative_to(ROOT).parts))
    return found


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(config["packages"]) == _folders()
    assert config["package-dir"] == {"graphconv.passes": "passes"}


def test_passes_install_inside_graphconv():
    from graphconv import passes

    assert Path(passes.__file__).resolve().parent == ROOT / "passes"
    assert importlib.util.find_spec("passes") is None or "site-packages" not in str(
        importlib.util.find_spec("passes").origin
    )
