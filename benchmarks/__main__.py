"""``python -m benchmarks run <scenario>... [--size tiny|full] [--out DIR]``, ``list``, ``report``.

See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks.results import write_report, write_result
from benchmarks.scenarios import SCENARIOS, RunContext

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run scenarios and write their results")
    run.add_argument("scenarios", nargs="+", help=f"'all' or any of: {', '.join(SCENARIOS)}")
    run.add_argument("--size", choices=["tiny", "full"], default="full")
    run.add_argument("--out", type=Path, default=DEFAULT_OUT)
    sub.add_parser("list", help="list the scenarios")
    report = sub.add_parser("report", help="rebuild README.md from the results")
    report.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    if args.command == "list":
        for name, scenario in SCENARIOS.items():
            print(f"{name:16} {scenario.title}")
        return 0
    if args.command == "report":
        print(write_report(args.out, list(SCENARIOS)))
        return 0
    names = list(SCENARIOS) if args.scenarios == ["all"] else args.scenarios
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}; see 'python -m benchmarks list'")
    failed: list[str] = []
    for name in names:
        started = time.monotonic()
        print(f"== {name} ({args.size})", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"wxbench-{name}-") as tmp:
            ctx = RunContext(size=args.size, work_dir=Path(tmp))
            try:
                result = asyncio.run(SCENARIOS[name].run(ctx))
            except Exception:  # one broken scenario must not cost the others' results
                traceback.print_exc()
                failed.append(name)
                continue
        for path in write_result(result, args.out):
            print(f"   wrote {path}")
        for target in result.targets:
            print(f"   {target.name}: {target.measured} (goal {target.goal}) met={target.met}")
        print(f"   {time.monotonic() - started:.0f} s", flush=True)
    write_report(args.out, list(SCENARIOS))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
