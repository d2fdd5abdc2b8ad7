"""graphconv targets: list the built-in target profiles or print one; and the --target step the
model commands share (legalize after the passes, check the export against the profile)."""

from __future__ import annotations

from ..errors import GraphconvError
from ._codes import EXIT_OK
from ._session import note, record, say


def add(sub) -> None:
    t = sub.add_parser("targets", help="list the built-in target profiles, or print one")
    t.add_argument("name", nargs="?", help="a built-in profile name or a .toml file")
    t.set_defaults(func=cmd_targets)


def cmd_targets(args) -> int:
    from pathlib import Path

    from ..targets import builtin_names, load_profile

    if args.name is None:
        for name in builtin_names():
            profile = load_profile(name)
            print(f"{name:18s} {profile.description}")
        return EXIT_OK
    profile = load_profile(args.name)  # checks the file (or the name) first
    print(Path(profile.source).read_text(encoding="utf-8").rstrip())
    return EXIT_OK


def apply_target(args, original, graph, sites):
    """With ``--target``: legalize ``graph`` for the profile and print the plan; the sites of
    the planner's rewrites join those of ``--passes``."""
    spec = getattr(args, "target", None)
    if not spec:
        return original, graph, sites
    from graphconv.passes import legalize

    legal, plan = legalize(
        graph,
        spec,
        allow_partial=getattr(args, "allow_partial", False),
        opset=getattr(args, "opset", 17),
    )
    for line in plan.lines():
        say(line)
    record("target", {"profile": spec, "plan": plan.lines()})
    return original, legal, list(sites) + list(plan.sites)


def check_target(args, graph, model=None) -> None:
    """With ``--target``: every node of the export (``model``, or the graph's structure) must
    fit the profile; else a one-line error (exit 2), or warnings with ``--allow-partial``."""
    spec = getattr(args, "target", None)
    if not spec:
        return
    from ..targets import load_profile, structure, violations

    profile = load_profile(spec)
    if model is None:
        model = structure(graph, getattr(args, "opset", 17))
    found = violations(model, profile)
    if not found:
        say(f"target '{profile.name}': all {len(model.graph.node)} ONNX nodes fit the profile")
        return
    if getattr(args, "allow_partial", False):
        for v in found:
            note(f"warning: target '{profile.name}': {v}")
        return
    where = f"{args.output} not written: " if getattr(args, "output", None) else ""
    shown = "; ".join(str(v) for v in found[:3])
    more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
    raise GraphconvError(
        f"{where}{len(found)} violation(s) of target '{profile.name}' in the export: {shown}{more}"
    )
