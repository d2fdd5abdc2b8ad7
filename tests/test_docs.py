"""The drawings committed under docs/ are what scripts/make_docs.py makes now (byte for byte),
and each parses as XML."""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET

from helpers import ROOT


def test_docs_drawings_are_current(tmp_path):
    spec = importlib.util.spec_from_file_location("make_docs", ROOT / "scripts" / "make_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made = module.make(tmp_path)
    committed = sorted(p.name for p in (ROOT / "docs").glob("*.svg"))
    assert sorted(p.name for p in made) == committed
    for p in made:
        ET.parse(p)
        assert p.read_bytes() == (ROOT / "docs" / p.name).read_bytes(), (
            f"docs/{p.name} is stale: run python scripts/make_docs.py"
        )
    readme = (ROOT / "README.md").read_text()
    for name in committed:
        assert f"docs/{name}" in readme
