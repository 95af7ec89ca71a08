"""The ``alertcb`` command (also ``python -m alertcb``).

Imports stay lazy so ``alertcb --version`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_OUTBOX = "alertcb-runs/outbox.sqlite3"


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    from alertcb.redact import scrub

    sys.stderr.write(scrub(text) + "\n")


def cmd_check_config(args: argparse.Namespace) -> int:
    from alertcb.config import load_config
    from alertcb.errors import ConfigError

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        _err(f"alertcb: invalid configuration: {exc}")
        return 2
    _out(json.dumps(config.describe(), indent=2, default=str))
    _out(f"ok: {len(config.channels)} channel(s)")
    return 0


def _notifier_from(args: argparse.Namespace, **overrides: object) -> object:
    from alertcb.notifier import Notifier

    if getattr(args, "config", None):
        return Notifier.from_config(args.config, **overrides)
    return Notifier.from_env(**overrides)


def cmd_send_test(args: argparse.Namespace) -> int:
    from alertcb.errors import ConfigError
    from alertcb.events import Event, Severity
    from alertcb.notifier import Notifier

    try:
        notifier = _notifier_from(args, run_dir=False, outbox=False, group_wait_s=0.0, console=False)
    except ConfigError as exc:
        _err(f"alertcb: invalid configuration: {exc}")
        return 2
    assert isinstance(notifier, Notifier)
    lanes = notifier.channels
    if args.channel:
        if args.channel not in {c.name for c in lanes}:
            _err(f"alertcb: no channel named {args.channel!r}; configured: {sorted(c.name for c in lanes)}")
            notifier.close(0)
            return 2
        notifier._dispatcher.lanes = [ln for ln in notifier._dispatcher.lanes if ln.name == args.channel]
    if not notifier._dispatcher.lanes:
        _err("alertcb: no channel configured (use --config FILE or ALERTCB_* variables)")
        notifier.close(0)
        return 2
    notifier.emit(
        Event(
            kind="test",
            title="alertcb test alert",
            message="If you can read this, alertcb can reach this channel.",
            severity=Severity.INFO,
            run=notifier.run,
        )
    )
    notifier.flush(args.timeout)
    stats = notifier.stats()["destinations"]
    notifier.close(0)
    failures = 0
    for name, figures in stats.items():
        if figures["delivered"]:
            _out(f"{name}: delivered")
        else:
            failures += 1
            _out(f"{name}: NOT delivered ({figures['last_error'] or 'still pending'})")
    return 1 if failures else 0


def cmd_outbox(args: argparse.Namespace) -> int:
    from alertcb.delivery.outbox import Outbox

    if args.action == "send":
        return cmd_outbox_send(args)
    path = Path(args.path or DEFAULT_OUTBOX)
    if not path.exists():
        _err(f"alertcb: no outbox at {path}")
        return 2
    box = Outbox(path)
    try:
        if args.action == "list":
            rows = box.rows(None if args.all else "pending")
            for row in rows:
                _out(f"{row.id}\t{row.state}\t{row.destination}\tattempts={row.attempts}\t{row.summary}")
            _out(f"{len(rows)} row(s)")
        elif args.action == "retry":
            _out(f"{box.retry_failed()} failed row(s) queued again for the next Notifier")
        elif args.action == "purge":
            states = ("delivered", "failed", "dropped", "pending") if args.all else ("delivered", "failed", "dropped")
            _out(f"{box.purge(states)} row(s) removed")
    finally:
        box.close()
    return 0


def cmd_outbox_send(args: argparse.Namespace) -> int:
    """Deliver the outbox's pending rows (of dead or closed owners) through the configured channels."""
    from alertcb.delivery.outbox import Outbox
    from alertcb.errors import ConfigError
    from alertcb.notifier import Notifier

    overrides: dict[str, object] = {"run_dir": False, "console": False, "handle_sigterm": False}
    if args.path:
        overrides["outbox"] = args.path
    if args.path and not Path(args.path).exists():
        _err(f"alertcb: no outbox at {args.path}")
        return 2
    try:
        notifier = _notifier_from(args, **overrides)
    except ConfigError as exc:
        _err(f"alertcb: invalid configuration: {exc}")
        return 2
    assert isinstance(notifier, Notifier)
    box = notifier._dispatcher.outbox
    if box is None or not box.path.exists():
        notifier.close(0)
        _err(f"alertcb: no outbox at {box.path if box else '(outbox disabled in the configuration)'}")
        return 2
    left = notifier.flush(args.timeout)
    claimed = box.claimed_ids
    notifier.close(0)
    reader = Outbox(box.path)
    try:
        states = {r.id: r.state for r in reader.rows(None) if r.id in claimed}
        others = [r for r in reader.rows() if r.id not in claimed]
    finally:
        reader.close()
    delivered = sum(1 for s in states.values() if s == "delivered")
    failed = sum(1 for s in states.values() if s == "failed")
    _out(f"{len(claimed)} row(s) taken over: {delivered} delivered, {failed} failed, "
         f"{len(claimed) - delivered - failed} still pending")
    if others:
        names = sorted({r.destination for r in others})
        _out(f"{len(others)} other pending row(s) not sent now (held by a running process, or for "
             f"destinations not configured here: {', '.join(names)})")
    return 0 if delivered == len(claimed) and not left else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from alertcb.demo import run_demo

    return run_demo(steps=args.steps, run_dir=args.run_dir)


def cmd_run(args: argparse.Namespace) -> int:
    from alertcb.supervisor import main as supervise

    command = list(args.cmd)
    if command[:1] == ["--"]:
        command = command[1:]
    return supervise(
        command, config=args.config, heartbeat_timeout_s=args.heartbeat_timeout_s,
        progress_timeout_s=args.progress_timeout_s, heartbeat_interval_s=args.heartbeat_interval_s,
        interrupt_report_s=args.interrupt_report_s, run_dir=args.run_dir, run_name=args.run_name,
        stderr_lines=args.stderr_lines,
    )


def _add_run_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="run a training command and report crashes, kills and stalls",
                         description="Run COMMAND as a child; report a death by signal (SIGKILL/OOM, segfault), "
                         "a non-zero exit, an interruption or a stall through the configured channels; exit "
                         "with the child's status. See docs/supervisor.md.")
    run.add_argument("--config", help="TOML file (default: $ALERTCB_CONFIG and ALERTCB_* variables)")
    run.add_argument("--heartbeat-timeout-s", type=float, default=60.0,
                     help="report 'stalled' when the child's heartbeat is older than this (default 60)")
    run.add_argument("--progress-timeout-s", type=float, default=None,
                     help="also report 'stalled' when epoch/step did not move for this long (default: off)")
    run.add_argument("--heartbeat-interval-s", type=float, default=1.0, help="child heartbeat period (default 1)")
    run.add_argument("--interrupt-report-s", type=float, default=5.0,
                     help="after forwarding SIGTERM/SIGINT, report if the child still runs this long (default 5)")
    run.add_argument("--run-dir", help="run directory root (default $ALERTCB_RUN_DIR or alertcb-runs)")
    run.add_argument("--run-name", help="run name (default $ALERTCB_RUN_NAME or run-<date>-<pid>)")
    run.add_argument("--stderr-lines", type=int, default=50, help="stderr lines in each report (default 50)")
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND ...")
    run.set_defaults(func=cmd_run)


def build_parser() -> argparse.ArgumentParser:
    from alertcb._version import __version__

    parser = argparse.ArgumentParser(prog="alertcb", description="Alerts for Keras training.")
    parser.add_argument("--version", action="version", version=f"alertcb {__version__}")
    sub = parser.add_subparsers(dest="command")

    demo = sub.add_parser("demo", help="run a short real Keras training with injected faults")
    demo.add_argument("--steps", type=int, default=60, help="batches per epoch (default 60)")
    demo.add_argument("--run-dir", default="alertcb-runs", help="run directory root")
    demo.set_defaults(func=cmd_demo)

    check = sub.add_parser("check-config", help="validate a TOML configuration, print it redacted")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)

    test = sub.add_parser("send-test", help="send a test alert through each configured channel")
    test.add_argument("--config", help="TOML file (default: $ALERTCB_CONFIG and ALERTCB_* variables)")
    test.add_argument("--channel", help="only this channel (its name)")
    test.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    test.set_defaults(func=cmd_send_test)

    box = sub.add_parser("outbox", help="inspect or manage the durable outbox")
    box.add_argument("action", choices=["list", "retry", "purge", "send"],
                     help="send: deliver pending rows through the configured channels")
    box.add_argument("--path", help=f"the outbox (default {DEFAULT_OUTBOX}; send: the configuration's)")
    box.add_argument("--all", action="store_true", help="list: every row; purge: pending rows too")
    box.add_argument("--config", help="send: TOML file (default: $ALERTCB_CONFIG and ALERTCB_* variables)")
    box.add_argument("--timeout", type=float, default=60.0, help="send: seconds to wait (default 60)")
    box.set_defaults(func=cmd_outbox)

    _add_run_parser(sub)

    try:
        from alertcb.report.command import add_report_parser
    except ImportError:
        pass
    else:
        add_report_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv in (["--version"], ["-V"]):  # fast path: no parser, no imports
        from alertcb._version import __version__

        _out(f"alertcb {__version__}")
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
