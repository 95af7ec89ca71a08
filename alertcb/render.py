"""All text a person reads is rendered here, from Jinja2 templates.

One `jinja2.Environment` with `StrictUndefined` (a missing field fails loudly in
tests), autoescaping for ``.html`` templates, and a `ChoiceLoader`: the user's
template folder first, then the packaged ``templates/``. Channels receive finished
text from `Renderer.render`; they don't format.

Example:
    >>> r = Renderer()
    >>> text = r.render("console/alert.txt.j2", notification)  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alertcb import filters
from alertcb.alerttext import alert_view, what_to_check
from alertcb.errors import ConfigError
from alertcb.notification import Notification
from alertcb.report.progress import Progress
from alertcb.report.summary import Summary

if TYPE_CHECKING:
    import jinja2

SEVERITY_ICON = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
RESOLVED_ICON = "✅"


def packaged_templates_dir() -> Path:
    """Where the templates shipped with alertcb live: ``alertcb/templates`` (one lookup path)."""
    return Path(__file__).resolve().parent / "templates"


class Renderer:
    """Renders notifications and reports from templates.

    Args:
        template_dir: a folder whose templates override the packaged ones (same names).
        link_url: an optional link shown in alerts (dashboard, run page).
        run_dir: the run directory shown in alerts ("where to look").
    """

    def __init__(
        self,
        template_dir: str | os.PathLike[str] | None = None,
        *,
        link_url: str | None = None,
        run_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        import jinja2  # lazily: keeps `import alertcb` fast

        loaders: list[jinja2.BaseLoader] = []
        if template_dir is not None:
            if not Path(template_dir).is_dir():
                raise ConfigError("template_dir", f"expected an existing folder, got {str(template_dir)!r}")
            loaders.append(jinja2.FileSystemLoader(str(template_dir)))
        loaders.append(jinja2.FileSystemLoader(str(packaged_templates_dir())))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            # Templates are named like "alert.html.j2": escape by the extension before ".j2".
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html", "htm", "xml", "html.j2", "htm.j2", "xml.j2"), default=False
            ),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters.update(filters.FILTERS)
        self.env.filters.update(REPORT_FILTERS)
        self.env.filters.update(alert_view=alert_view, what_to_check=what_to_check)
        self.env.globals.update(
            severity_icon=severity_icon,
            link_url=link_url or "",
            run_dir=str(run_dir) if run_dir is not None else "",
        )
        self.link_url = link_url or ""
        self.run_dir = str(run_dir) if run_dir is not None else ""

    def render(self, template_name: str, notification: Notification | None = None, /, **extra: Any) -> str:
        """Render ``template_name`` for ``notification`` (plus ``extra`` variables)."""
        context: dict[str, Any] = dict(extra)
        if notification is not None:
            context.update(alert_context(notification))
        return self.env.get_template(template_name).render(context).strip("\n")

    def render_data(self, template_name: str, data: Mapping[str, Any]) -> str:
        """Render a template with an arbitrary context (reports, digests)."""
        return self.env.get_template(template_name).render(dict(data)).strip("\n")


def summary_filter(details: Any) -> Summary:
    """``details | summary``: a summary event's details as a typed `Summary` (never raises)."""
    return Summary.from_dict(details)


def progress_filter(details: Any) -> Progress:
    """``details | progress``: a progress event's details as a typed `Progress` (never raises)."""
    return Progress.from_dict(details)


#: The report filters. ``summary_view``/``progress_view`` are the names used before the typed
#: summary (custom templates may still use them): the same objects.
REPORT_FILTERS = {
    "summary": summary_filter,
    "progress": progress_filter,
    "summary_view": summary_filter,
    "progress_view": progress_filter,
}


def severity_icon(severity: Any, status: str = "firing") -> str:
    if status == "resolved":
        return RESOLVED_ICON
    return SEVERITY_ICON.get(str(severity), "⚪")


def alert_context(n: Notification) -> dict[str, Any]:
    """The variables every alert template sees."""
    event = n.event
    run = event.run
    when = _dt.datetime.fromtimestamp(event.time, tz=_dt.timezone.utc) if math.isfinite(event.time) else None
    return {
        "n": n,
        "event": event,
        "events": n.events,
        "run": run,
        "run_name": run.name if run else "",
        "host": run.host if run else "",
        "worker": (run.worker if run else None) or "",
        "icon": severity_icon(n.severity, event.status),
        "severity": str(n.severity),
        "status": event.status,
        "when": when,
        "more": n.more,
        "suppressed": n.suppressed,
        "digest": n.digest,
        "details": dict(event.details),
    }


def template_group(notification: Notification) -> str:
    """``"summary"``, ``"progress"`` or ``"alert"``: which family of templates applies."""
    kind = notification.event.kind
    return kind if kind in ("summary", "progress") else "alert"


def template_name(channel_type: str, notification: Notification, part: str) -> str:
    """The conventional template name, e.g. ``template_name("slack", n, "mrkdwn.j2")``
    gives ``"slack/alert.mrkdwn.j2"`` (or ``slack/summary...``, ``slack/progress...``)."""
    return f"{channel_type}/{template_group(notification)}.{part}"
