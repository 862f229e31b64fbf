"""Size figures of the package: Bench's fields, `mafac.bench`'s parameters, the largest modules'
lines, the share of lines that are comments or docstrings, and the README's lines.

    python benchmarks/code_stats.py [--top 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def comment_lines(source: str) -> set:
    """Line numbers holding a comment or a docstring (a string statement standing alone)."""
    lines, previous = set(), tokenize.NEWLINE
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            lines.add(tok.start[0])
        elif tok.type == tokenize.STRING and previous in (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT,
                                                            tokenize.DEDENT):
            lines.update(range(tok.start[0], tok.end[0] + 1))
        if tok.type not in (tokenize.COMMENT, tokenize.NL):
            previous = tok.type
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=int, default=5)
    args = ap.parse_args()
    import mafac.api
    from mafac.benchmark.spec import Bench

    sizes, total, commented = {}, 0, 0
    for path in sorted((ROOT / "mafac").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        n = len(text.splitlines())
        sizes[str(path.relative_to(ROOT))] = n
        total += n
        commented += len(comment_lines(text))
    print(f"Bench fields: {len(dataclasses.fields(Bench))}")
    print(f"mafac.bench parameters: {len(inspect.signature(mafac.api.bench).parameters)} "
          f"(mafac.sweep: {len(inspect.signature(mafac.api.sweep).parameters)})")
    for name, n in sorted(sizes.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"  {n:5d} {name}")
    print(f"comment + docstring lines: {commented} of {total} ({commented / total:.1%})")
    print(f"README lines: {len((ROOT / 'README.md').read_text(encoding='utf-8').splitlines())}")


if __name__ == "__main__":
    main()
