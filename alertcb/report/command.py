"""``alertcb report RUN_DIR``: re-render (and optionally re-send) the summary of a run directory.

Apart from `alertcb.report.artifacts` so that the notifier (which imports artifacts to draw
the picture) and this command (which builds a notifier for ``--send``) form no import cycle.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from alertcb.report.artifacts import FORMATS, load_summary, render_report


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``alertcb report RUN_DIR [--format ...] [--output FILE] [--send]`` to ``subparsers``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="re-render (and optionally re-send) the training summary of a run directory",
        description="Re-render the training summary from RUN_DIR/events.jsonl. Without a summary "
        "(training died), a partial summary is rebuilt from the events.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. alertcb-runs/exp42")
    parser.add_argument(
        "--format", dest="fmt", choices=sorted(FORMATS), default="text", help="output format (default: text)"
    )
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    parser.add_argument("--template-dir", help="a folder of templates overriding the packaged ones")
    parser.add_argument(
        "--send", action="store_true", help="also send the summary through the configured channels"
    )
    parser.add_argument(
        "--config", help="TOML file for --send (default: $ALERTCB_CONFIG and ALERTCB_* variables)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for --send (default 60)")
    parser.set_defaults(func=report_command)
    return parser


def report_command(args: argparse.Namespace) -> int:
    """Run ``alertcb report``. Returns the exit status (0 ok, 1 not delivered, 2 bad input)."""
    from alertcb.errors import ConfigError
    from alertcb.render import Renderer

    run_dir = Path(args.run_dir)
    if not (run_dir / "events.jsonl").is_file():
        sys.stderr.write(f"alertcb: no events.jsonl in {run_dir}\n")
        return 2
    try:
        renderer = Renderer(getattr(args, "template_dir", None), run_dir=run_dir)
        text = render_report(run_dir, getattr(args, "fmt", "text"), renderer=renderer)
    except ConfigError as exc:
        sys.stderr.write(f"alertcb: {exc}\n")
        return 2
    output = getattr(args, "output", None)
    if output and output != "-":
        try:
            Path(output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            sys.stderr.write(f"alertcb: cannot write {output}: {exc}\n")
            return 2
        sys.stdout.write(f"report written to {output}\n")
    else:
        sys.stdout.write(text + "\n")
    if getattr(args, "send", False):
        return _send(run_dir, args)
    return 0


def _send(run_dir: Path, args: argparse.Namespace) -> int:
    from alertcb.errors import ConfigError
    from alertcb.notifier import Notifier

    event = load_summary(run_dir)
    overrides: dict[str, Any] = {"run_dir": False, "outbox": False, "group_wait_s": 0.0}
    if event.run is not None:
        overrides["run_name"] = event.run.name
    if getattr(args, "template_dir", None):
        overrides["template_dir"] = args.template_dir
    try:
        if getattr(args, "config", None):
            notifier = Notifier.from_config(args.config, **overrides)
        else:
            notifier = Notifier.from_env(**overrides)
    except ConfigError as exc:
        sys.stderr.write(f"alertcb: invalid configuration: {exc}\n")
        return 2
    notifier.emit(event)
    pending = notifier.flush(float(getattr(args, "timeout", 60.0)))
    stats = notifier.stats()
    notifier.close(0)
    failed = 0
    for name, figures in (stats.get("destinations") or {}).items():
        if figures.get("delivered"):
            sys.stderr.write(f"{name}: summary delivered\n")
        else:
            failed += 1
            sys.stderr.write(
                f"{name}: summary NOT delivered ({figures.get('last_error') or 'still pending'})\n"
            )
    return 1 if failed or pending else 0
