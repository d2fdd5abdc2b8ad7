"""The README's example sessions stay true: every ``$ graphconv ...`` line in a fenced block of
README.md is run (in-process, from a scratch folder that sees the repository's files and
``../shared``), and what it prints is compared with the lines under it in the README.

The lines must match one for one, the text between numbers exactly. Numbers by kind:

- counts, sizes and shapes (integers: layers, params, MACs, ``1x4x40x40``): exactly;
- errors (``max abs err``, ``rel``): an error at float32 rounding level is itself noise: its
  size and worst element follow the summation order of the kernels (BLAS, onnxruntime's), and
  grows with depth (about sqrt(K) 2^-24 per layer of K-term sums: ENet's measured 2.5e-6
  relative to its largest value). Two errors both at most ``ROUNDING`` (1e-5, a tenth of
  validate's default tolerance) relative to the output's largest magnitude (``largest |value|``
  on the same line) are the same finding, 0 included. A larger error is a deterministic
  quantity, printed to 3 digits: within 1e-3 relative or one unit of its last printed digit;
- other measured values (``largest |value|``, statistics): seeded and deterministic up to
  rounding, printed to 3 significant digits: within one unit of the last printed digit (a
  value on a rounding boundary may print either way) or 1e-3 relative;
- timings (a number followed by ``ms``, ``s`` or a ratio ``x``): only that a number is there.

Lines in a block starting with ``note:`` or ``warning:`` are what the command writes to stderr:
each must be among its stderr lines, in order; other stderr output is not compared. The exit code
is 0 unless the command line ends in ``# exit N``. A command that names ``../shared/caffe-zoo``
skips with the reason when the zoo is absent (fails under CI=true, tests/helpers.py).
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import shlex

import pytest
from helpers import ROOT, ZOO, zoo_files

README = ROOT / "README.md"
NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![.\d]|[^\Wx]|x\d)"
)
TIMING = re.compile(r"^(?:\s*(?:ms|s|us|µs)\b|x(?=[\s,;)]|$))")  # "12.5 ms", "1.19x"
ROUNDING = 1e-5  # relative errors up to this are float32 summation-order noise (see above)


def commands(text: str) -> list[tuple[int, str, list[str]]]:
    """(line number, command, expected lines) for each ``$ graphconv`` line in a fenced block."""
    found, inside, current = [], False, None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            inside, current = not inside, None
        elif inside and line.startswith("$ graphconv "):
            current = (number, line[2:], [])
            found.append(current)
        elif inside and current is not None:
            current[2].append(line)
    return found


def _split(line: str) -> tuple[list[str], list[str]]:
    """The text pieces and the numbers of ``line`` (one more piece than numbers)."""
    return NUMBER.split(line), NUMBER.findall(line)


def _value(token: str) -> float:
    return float(token.replace(",", ""))


def _last_digit(token: str) -> float:
    """One unit of the last digit ``token`` prints. Numbers are printed with %.3g, which drops
    trailing zeros ("3.6" is 3.60): fewer than 3 significant digits mean 3."""
    value = abs(_value(token))
    mantissa, _, exponent = token.lower().replace(",", "").lstrip("+-").partition("e")
    unit = 10.0 ** (-len(mantissa.partition(".")[2]) + (int(exponent) if exponent else 0))
    if value == 0 or len(mantissa.replace(".", "").lstrip("0")) >= 3:
        return unit
    return min(unit, 10.0 ** (math.floor(math.log10(value)) - 2))


def _kind(before: str, after: str, got: str, want: str) -> str:
    if TIMING.match(after):
        return "timing"
    if before.rstrip().endswith("err"):
        return "abs error"
    if before.rstrip().endswith("rel"):
        return "rel error"
    if not re.search(r"[.eE]", got + want):
        return "count"
    return "measured"


def _agree(kind: str, got: str, want: str, largest: float) -> bool:
    g, w = _value(got), _value(want)
    if kind == "timing":
        return True
    if kind == "count":
        return got == want
    close = abs(g - w) <= max(1e-3 * abs(w), _last_digit(want))
    if kind == "abs error":
        return close or max(g, w) <= ROUNDING * largest
    if kind == "rel error":
        return close or max(g, w) <= ROUNDING
    return close


def line_difference(got: str, want: str) -> str | None:
    """Why the printed line ``got`` does not match the README's ``want``; None when it does."""
    (gt, gn), (wt, wn) = _split(got), _split(want)
    if len(gn) != len(wn) or gt != wt:
        return "the text differs"
    largest = 0.0
    for i, w in enumerate(wn):
        if wt[i].rstrip().endswith("|value|"):
            largest = _value(w)
    for i, (g, w) in enumerate(zip(gn, wn)):
        kind = _kind(wt[i], wt[i + 1], g, w)
        if not _agree(kind, g, w, largest):
            return f"{kind} {g} where the README says {w}"
    return None


def _run(argv: list[str]) -> tuple[int, str, str]:
    from graphconv.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _scratch(tmp_path):
    """A folder standing in for the repository root: its files linked, ``../shared`` too."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for entry in ROOT.iterdir():
        if not entry.name.startswith("."):
            (repo / entry.name).symlink_to(entry)
    if ZOO.parent.is_dir():
        (tmp_path / "shared").symlink_to(ZOO.parent)
    return repo


CASES = commands(README.read_text(encoding="utf-8"))


def test_the_readme_has_examples_to_check():
    assert CASES, "no `$ graphconv` lines in README.md's fenced blocks"


@pytest.mark.parametrize("number, command, expected", CASES, ids=[f"line{c[0]}" for c in CASES])
def test_readme_example_prints_what_the_readme_shows(number, command, expected, tmp_path):
    if "caffe-zoo" in command:
        zoo_files()  # skips with the reason (fails under CI) when the zoo is absent
    words = shlex.split(command, comments=True)
    comment = command.partition("#")[2].strip()
    code = int(comment.split()[1]) if comment.startswith("exit ") else 0
    with contextlib.chdir(_scratch(tmp_path)):
        got_code, out, err = _run(words[1:])
    assert got_code == code, f"README line {number}: exit {got_code}, expected {code}\n{err}"
    notes = [line for line in expected if line.startswith(("note:", "warning:"))]
    want = [line for line in expected if line not in notes]
    got = out.splitlines()
    assert len(got) == len(want), (
        f"README line {number}: {len(got)} lines printed, the README shows {len(want)}:\n{out}"
    )
    for i, (g, w) in enumerate(zip(got, want)):
        why = line_difference(g, w)
        assert why is None, f"README line {number + 1 + i}: {why}\n  printed: {g}\n  README:  {w}"
    lines = iter(err.splitlines())
    missing = [n for n in notes if not any(line == n for line in lines)]
    assert not missing, f"README line {number}: not on stderr (in this order): {missing}\n{err}"


@pytest.mark.parametrize(
    "got, want, ok",
    [
        ("a: max abs err 4.77e-07 (largest |value| 3.6), rel 1.33e-07 ok", None, True),
        ("a: max abs err 2.38e-07 (largest |value| 3.6), rel 6.6e-08 ok", None, True),
        ("a: max abs err 0 (largest |value| 3.6), rel 0 ok", None, True),
        ("a: max abs err 4.77e-04 (largest |value| 3.6), rel 1.33e-07 ok", None, False),
        ("a: max abs err 4.77e-07 (largest |value| 3.6), rel 1.33e-04 ok", None, False),
        ("a: max abs err 4.77e-07 (largest |value| 3.61), rel 1.33e-07 ok", None, True),
        ("a: max abs err 4.77e-07 (largest |value| 3.63), rel 1.33e-07 ok", None, False),
        ("a: max abs err 4.77e-07 (largest |value| 3.6), rel 1.33e-07 MISMATCH", None, False),
        (
            "7 layers (Convolution 3); 936 params, 1,059,200 MACs",
            "7 layers (Convolution 3); 936 params, 1,059,200 MACs",
            True,
        ),
        (
            "7 layers (Convolution 3); 937 params, 1,059,200 MACs",
            "7 layers (Convolution 3); 936 params, 1,059,200 MACs",
            False,
        ),
        ("x 1x4x40x41: 12.5 ms, 1.31x", "x 1x4x40x40: 10.1 ms, 1.19x", False),
        ("x 1x4x40x40: 12.5 ms, 1.31x", "x 1x4x40x40: 10.1 ms, 1.19x", True),
        ("conv1  3x3  1x1  -1x-1", "conv1  3x3  1x1  -1x-1", True),
        ("conv1  3x3  1x1  -2x-1", "conv1  3x3  1x1  -1x-1", False),
        ("relu  ~15x15  2x2  -8x-8", "relu  ~15x15  2x2  -8x-8", True),
    ],
)
def test_line_comparison_by_kind(got, want, ok):
    """The comparison itself: errors at rounding level are interchangeable, one well above it
    is not; measured values within a unit of the last printed digit; counts and shapes exact;
    timings only present."""
    want = want or "a: max abs err 4.77e-07 (largest |value| 3.6), rel 1.33e-07 ok"
    assert (line_difference(got, want) is None) == ok, line_difference(got, want)


def test_last_printed_digit():
    assert _last_digit("3.59") == pytest.approx(0.01)
    assert _last_digit("7") == pytest.approx(0.01)  # %.3g: 7.00
    assert _last_digit("3.6") == pytest.approx(0.01)
    assert _last_digit("1.5e-07") == pytest.approx(1e-9)
    assert _last_digit("1.32e-07") == pytest.approx(1e-9)
    assert math.isclose(_last_digit("1,264,000"), 1.0)
