"""The training report: ``report.html`` and ``loss_curve.png`` in the run directory,
the picture as an attachment for channels; re-rendering a run directory (the ``alertcb
report`` command itself is `alertcb.report.command`).

`build_report` runs on the dispatcher's thread when it handles a ``summary`` event:
it draws the loss curve (see `alertcb.report.plot`), writes ``loss_curve.png`` and a
self-contained ``report.html`` (picture embedded as a ``data:`` URI) into the run
directory, and returns the PNG as an `Attachment` with ``content_id="loss-curve"``:
the email channel inlines it (``<img src="cid:loss-curve">``), WeCom sends it as an
``image`` message.

`render_report` re-renders a summary from a run directory's ``events.jsonl`` (the
last ``summary`` line, or a partial summary rebuilt from the events when training
never finished).

Example:
    >>> print(render_report("alertcb-runs/exp42", fmt="text"))  # doctest: +SKIP
    ✅ exp42 · training completed
    10/10 epochs in 3m 2s, best val_loss 0.1234 at epoch 7
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alertcb.events import Event, RunInfo
from alertcb.notification import Attachment, Notification

logger = logging.getLogger("alertcb")

REPORT_FILENAME = "report.html"
PLOT_FILENAME = "loss_curve.png"
PLOT_CONTENT_ID = "loss-curve"
FORMATS = {"html": "report/report.html.j2", "markdown": "report/report.md.j2", "text": "report/report.txt.j2"}

if TYPE_CHECKING:  # keeps jinja2 out of `alertcb --help`
    from alertcb.render import Renderer


def build_report(event: Event, renderer: Renderer, run_dir: Path | None) -> tuple[Attachment, ...]:
    """Draw the loss curve and write ``report.html`` + ``loss_curve.png`` for a summary.

    Called by the dispatcher thread for every ``summary`` event. File-system errors
    are logged and skipped (the picture is still returned for the channels); a picture
    that cannot be drawn is logged and left out (the summary goes without it).

    Args:
        event: the ``kind="summary"`` event (other kinds give ``()``).
        renderer: renders ``report/report.html.j2``.
        run_dir: the run directory to write into, or None to write nothing.

    Returns:
        ``(Attachment("loss_curve.png", "image/png", png, content_id="loss-curve"),)``, or
        ``()`` when the picture could not be drawn.
    """
    if event.kind != "summary":
        return ()
    png = draw_picture(event.details)
    attachments = (
        (Attachment(filename=PLOT_FILENAME, content_type="image/png", data=png, content_id=PLOT_CONTENT_ID),)
        if png
        else ()
    )
    if run_dir is not None:
        html = renderer.render(
            FORMATS["html"],
            Notification(events=(event,)),
            image_src=data_uri(png) if png else "",
            max_rows=100_000,
        )
        folder = Path(run_dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if png:
                _write_atomic(folder / PLOT_FILENAME, png)
            _write_atomic(folder / REPORT_FILENAME, html.encode("utf-8"))
        except OSError as exc:
            logger.warning("alertcb: cannot write the report into %s: %s", folder, exc)
        else:
            logger.info("alertcb: training report written to %s", folder / REPORT_FILENAME)
    return attachments


def draw_picture(details: Any) -> bytes:
    """The loss-curve PNG, or ``b""`` when matplotlib fails (logged: a broken install costs the
    picture, never the summary)."""
    start = time.perf_counter()
    try:
        from alertcb.report.plot import loss_curve_png

        png = loss_curve_png(details)
    except Exception as exc:  # noqa: BLE001 - the summary must go out without its picture
        logger.warning("alertcb: cannot draw the loss curve (%s: %s)", type(exc).__name__, exc)
        return b""
    logger.debug("alertcb: loss curve drawn in %.0f ms", (time.perf_counter() - start) * 1000)
    return png


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for embedding a picture in a self-contained page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as handle:  # plain open: the user's umask applies
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---------------------------------------------------------------------- from a run directory


def read_events(run_dir: str | os.PathLike[str]) -> list[Event]:
    """The events of ``run_dir/events.jsonl``, oldest first (unreadable lines skipped).

    Raises:
        FileNotFoundError: there is no ``events.jsonl``.
    """
    path = Path(run_dir) / "events.jsonl"
    events: list[Event] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            try:
                events.append(Event.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                logger.debug("alertcb: %s line %d skipped: %s", path, number, exc)
    return events


def load_summary(run_dir: str | os.PathLike[str]) -> Event:
    """The run's last summary event, or a partial one rebuilt from its events.

    Raises:
        FileNotFoundError: there is no ``events.jsonl`` in ``run_dir``.
    """
    return _load_summary(Path(run_dir))[0]


def _load_summary(run_dir: Path) -> tuple[Event, bool]:
    from alertcb.report.replay import summary_from_events

    events = read_events(run_dir)
    for event in reversed(events):
        if event.kind == "summary":
            return event, True
    run, start = _run_record(run_dir)
    return summary_from_events(events, run=run, start=start), False


def _run_record(run_dir: Path) -> tuple[RunInfo | None, float | None]:
    try:
        data = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    run = RunInfo.from_dict(data["run"]) if isinstance(data.get("run"), dict) else None
    started = data.get("started")
    return run, float(started) if isinstance(started, (int, float)) else None


def render_report(
    run_dir: str | os.PathLike[str],
    fmt: str = "html",
    *,
    renderer: Renderer | None = None,
) -> str:
    """Re-render the summary of a run directory.

    Args:
        run_dir: a run directory holding ``events.jsonl``.
        fmt: ``"html"`` (self-contained page), ``"markdown"`` or ``"text"``.
        renderer: the `Renderer` (e.g. with a ``template_dir``); a default one when None.

    Raises:
        FileNotFoundError: there is no ``events.jsonl`` in ``run_dir``.
        ValueError: an unknown ``fmt``.
    """
    from alertcb.render import Renderer

    if fmt not in FORMATS:
        raise ValueError(f"fmt: expected one of {sorted(FORMATS)}, got {fmt!r}")
    folder = Path(run_dir)
    event, logged = _load_summary(folder)
    renderer = renderer or Renderer(run_dir=folder)
    picture = folder / PLOT_FILENAME
    extra: dict[str, Any] = {"max_rows": 100_000}
    if fmt == "html":
        png = picture.read_bytes() if logged and picture.is_file() else b""
        png = png or draw_picture(event.details)
        extra["image_src"] = data_uri(png) if png else ""
    elif fmt == "markdown":
        extra["image_src"] = PLOT_FILENAME if logged and picture.is_file() else ""
    return renderer.render(FORMATS[fmt], Notification(events=(event,)), **extra)
