"""``python -m bench.detection``: record the traces if missing, then replay and report.

Options:
    --record-only / --replay-only
    --quick          one seed per task (a smoke run)
    --hooks          also measure the per-batch cost of each callback
    --traces DIR     where traces live (default bench/detection/traces)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.detection.families import unseen_plan
from bench.detection.fresh import fresh_plan
from bench.detection.tasks import new_plan, plan

TRACES = Path(__file__).resolve().parent / "traces"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.detection", description=__doc__)
    parser.add_argument("--record-only", action="store_true")
    parser.add_argument("--replay-only", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--hooks", action="store_true", help="also measure the per-hook cost (imports Keras)")
    parser.add_argument("--traces", type=Path, default=TRACES)
    parser.add_argument("--markdown", type=Path, default=None, help="also write the tables to this file")
    args = parser.parse_args(argv)
    specs = plan(quick=args.quick) + new_plan(quick=args.quick) + unseen_plan(quick=args.quick)
    specs += fresh_plan(quick=args.quick)
    if not args.replay_only:
        missing = [s for s in specs if not (args.traces / f"{s.name}.json").exists()]
        if missing:
            import warnings

            warnings.filterwarnings("ignore")
            from bench.detection.record import record_all

            print(f"recording {len(missing)} traces into {args.traces} ...", file=sys.stderr)
            record_all(missing, args.traces, log=lambda line: print(line, file=sys.stderr))
    if args.record_only:
        return 0
    from bench.detection.replay import load, report
    from bench.detection.spec import spec_report

    traces = [load(args.traces / f"{s.name}.json") for s in specs if (args.traces / f"{s.name}.json").exists()]
    text = "## Against the spec (issue 12), the default engine\n\n" + spec_report(traces)
    text += "\n\n## Side by side with simple baselines (loose scoring, as before)\n\n" + report(specs, args.traces)
    if args.hooks:
        from bench.detection.hooks import measure

        text += "\n\n" + measure()
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
