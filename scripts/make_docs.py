"""Regenerate the drawings under docs/ from the bundled models (deterministic: the same code
gives the same bytes; tests/test_docs_drawings.py checks the committed files are current).

    python scripts/make_docs.py [FOLDER]      (default: docs/ next to this script's folder)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make(folder: Path) -> list[Path]:
    """Write every drawing into ``folder``; returns the paths written."""
    import graphconv as gc
    from graphconv.draw import compare_svg, graph_svg, write_text
    from graphconv.explain import from_layer, parse_spec, svg
    from graphconv.passes import apply_recorded

    models = ROOT / "models"
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, str] = {}
    fcn = gc.load(models / "fcn_tiny.prototxt")
    out["fcn_tiny.svg"] = graph_svg(fcn, title="fcn_tiny")
    up = gc.load(models / "upsample_vs_deconv.prototxt")
    passes = ["upsample-to-deconv", "deconv-to-conv"]
    lowered, sites = apply_recorded(up, passes)
    out["upsample_vs_deconv_lowered.svg"] = compare_svg(up, lowered, sites, ",".join(passes))
    out["explain_fcn_tiny_up1.svg"] = svg(from_layer(fcn, "up1"))
    wave = gc.load(models / "wavenet_dilated_1d.prototxt")
    out["explain_wavenet_dil4.svg"] = svg(from_layer(wave, "dil4"))
    out["explain_dilated_k3_d2.svg"] = svg(parse_spec("dilated k=3 d=2"))
    out["explain_deconv_k3_s2_p1_animated.svg"] = svg(parse_spec("deconv k=3 s=2 p=1"), True)
    paths = []
    for name, text in out.items():
        write_text(str(folder / name), text)
        paths.append(folder / name)
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    for p in make(target):
        print(f"wrote {p}")
