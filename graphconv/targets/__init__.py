"""Target profiles: say what a runtime supports (a TOML file or a built-in name), check an ONNX
model against it. The planner that rewrites a graph until it fits is
:func:`graphconv.passes.legalize`.

    profile = load_profile("conv-only")          # or a path to a .toml file
    for v in violations(model, profile): ...     # every node outside the profile
"""

from __future__ import annotations

from .check import Violation, layer_violations, structure, violations
from .profile import OpRule, Profile, builtin_names, load_profile, parse_profile

__all__ = [
    "OpRule",
    "Profile",
    "Violation",
    "builtin_names",
    "layer_violations",
    "load_profile",
    "parse_profile",
    "structure",
    "violations",
]
