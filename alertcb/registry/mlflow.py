"""The MLflow model registry as a checkpoint registry (``type = "mlflow"``).

Every checkpoint really written becomes a model version of one registered model: the file
is logged as an artifact of an MLflow run, and the version's source is
``runs:/<run_id>/alertcb/<epoch>-<key>/<file>`` with that ``run_id`` (what an MLflow 3
server accepts: a local path is refused unless it lies inside the run's own local artifact
folder). The alias (``best``) is moved to the best version. Everything runs on alertcb's
sending thread with one try per HTTP request inside a bounded attempt
(`alertcb.registry._mlflow_http`); the dispatcher retries, and the outbox keeps
registrations across a registry outage. Needs ``pip install "alertcb[mlflow]"``.

Example:
    >>> registry = MlflowRegistry(tracking_uri="http://127.0.0.1:5000", model_name="mnist-mlp")
    >>> notifier = alertcb.Notifier([registry, alertcb.channels.Console()])  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from alertcb.channels.base import Outcome, check_url
from alertcb.errors import ConfigError
from alertcb.events import Severity
from alertcb.redact import Secret, mask_password, register, scrub
from alertcb.registry import _mlflow_http
from alertcb.registry._mlflow_calls import MlflowCalls, classify
from alertcb.registry.base import CheckpointRecord, Registry
from alertcb.validate import check_bool, check_duration, check_number

__all__ = ["MlflowRegistry"]

logger = logging.getLogger("alertcb")

#: MLflow's alias rule: letters, digits, ``_`` and ``-``; ``latest`` and ``v<N>`` are reserved.
_ALIAS = re.compile(r"[A-Za-z0-9_-]{1,255}")
#: Environment variables whose values MLflow sends as credentials.
_CREDENTIAL_VARS = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_CLIENT_CERT_PATH")
_HASH_CHUNK = 1 << 20


def _text(field: str, value: Any, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(field, f"expected a non-empty string, got {value!r}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ConfigError(field, "expected a string without control characters")
    return value


class MlflowRegistry(Registry):
    """Registers every real checkpoint write as a version of an MLflow registered model.

    Args:
        tracking_uri: the MLflow tracking server, ``https://host`` (plain ``http://`` only to
            loopback unless ``allow_insecure_http``). Credentials may be in the URI
            (``https://user:pw@host``) or in MLflow's own variables (``MLFLOW_TRACKING_TOKEN``,
            ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``); they never appear in logs or alerts.
        model_name: the registered model (created when absent).
        alias: the alias moved to the best checkpoint's version. Defaults to ``"best"``;
            None moves none.
        experiment_name: the MLflow experiment of the runs that hold the checkpoint files
            (one MLflow run per alertcb run, found again by tag). Defaults to ``"alertcb"``.
        run_id: an existing MLflow run to log the checkpoints into instead (e.g. your
            ``mlflow.active_run().info.run_id``).
        tags: extra tags set on every model version.
        timeout_s: the budget of one registration attempt, every request included
            (uploading the file too). Defaults to 60.
        connect_timeout_s: the longest wait for a connection. Defaults to 3.
        hash_max_bytes: files up to this size get a ``sha256`` tag (hashed on the sending
            thread). Defaults to 2 GiB; 0 disables hashing.
        allow_insecure_http: allow ``http://`` to a non-loopback host.
        name, kinds, chief_only, min_severity, rate_limit_per_min: as for every `Registry`.

    Tags on each version: ``alertcb.run`` (run name), ``alertcb.epoch`` (1-based, as people
    count), ``alertcb.epoch0`` (0-based, as Keras counts), ``alertcb.monitor``,
    ``alertcb.value``, ``alertcb.is_best``, ``alertcb.path``, ``alertcb.size_bytes``,
    ``alertcb.sha256`` and ``alertcb.key`` (the idempotency key: a retry after a lost
    answer finds the version instead of creating a second one).

    Example:
        >>> MlflowRegistry(tracking_uri="http://127.0.0.1:5000", model_name="mnist-mlp", alias="best")
        MlflowRegistry(name='mlflow')
    """

    type: ClassVar[str] = "mlflow"

    def __init__(
        self,
        *,
        tracking_uri: str | Secret,
        model_name: str,
        alias: str | None = "best",
        experiment_name: str = "alertcb",
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 3.0,
        hash_max_bytes: int = 2 << 30,
        allow_insecure_http: bool = False,
        name: str | None = None,
        kinds: Sequence[str] | None = None,
        chief_only: bool = True,
        min_severity: Severity | str = "info",
        rate_limit_per_min: float | None = None,
    ) -> None:
        super().__init__(
            name=name, kinds=kinds, chief_only=chief_only, min_severity=min_severity,
            rate_limit_per_min=rate_limit_per_min,
        )
        uri = check_url("tracking_uri", tracking_uri, allow_insecure_http=allow_insecure_http)
        parts = urllib.parse.urlsplit(uri)
        for secret in (parts.password, *(os.environ.get(v) for v in _CREDENTIAL_VARS)):
            if secret:
                register(secret)
        self._uri = uri
        self._shown_uri = scrub(mask_password(uri))
        self.model_name = str(_text("model_name", model_name))
        if "'" in self.model_name or "`" in self.model_name:
            raise ConfigError("model_name", "quotes and backticks are not supported in model names")
        if alias is not None:
            _text("alias", alias)
            if not _ALIAS.fullmatch(alias) or alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
                raise ConfigError(
                    "alias", f"expected letters, digits, '_' or '-' (not 'latest' or 'v<N>'), got {alias!r}"
                )
        self.alias = alias
        self.experiment_name = str(_text("experiment_name", experiment_name))
        self.run_id = _text("run_id", run_id, required=False)
        if tags is not None and (
            not isinstance(tags, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
        ):
            raise ConfigError("tags", "expected a table of string names to string values")
        self.tags = dict(tags or {})
        self.timeout_s = check_duration("timeout_s", timeout_s, strict_minimum=True)
        self.connect_timeout_s = check_duration("connect_timeout_s", connect_timeout_s, strict_minimum=True)
        self.hash_max_bytes = int(check_number("hash_max_bytes", hash_max_bytes, minimum=0, integer=True))
        check_bool("allow_insecure_http", allow_insecure_http)
        if importlib.util.find_spec("mlflow") is None:
            raise ConfigError("type", 'the "mlflow" registry needs MLflow: pip install "alertcb[mlflow]"')
        self._calls: MlflowCalls | None = None
        self._outage = False  # the first failure of an outage is reported, not each retry
        self._quiet = False

    # ------------------------------------------------------------------ one registration
    def register(self, record: CheckpointRecord) -> Outcome:
        """Log the file, create (or find) its model version, move the alias; one attempt."""
        problem, size, sha256 = self._inspect(record)
        if problem:
            return Outcome.permanent(problem)
        key = hashlib.sha256(
            f"{record.run}\x1f{record.path}\x1f{record.epoch}\x1f{record.time!r}".encode("utf-8", "replace")
        ).hexdigest()[:32]
        tags = {
            **self.tags,
            "alertcb.key": key,
            "alertcb.run": record.run or "",
            "alertcb.epoch": str(record.epoch + 1),
            "alertcb.epoch0": str(record.epoch),
            "alertcb.is_best": str(record.is_best).lower(),
            "alertcb.path": record.path,
            "alertcb.size_bytes": str(size),
        }
        if record.monitor:
            tags["alertcb.monitor"] = record.monitor
        if record.value is not None:
            tags["alertcb.value"] = repr(record.value)
        if sha256:
            tags["alertcb.sha256"] = sha256
        metric = f", {record.monitor} = {record.value:.6g}" if record.monitor and record.value is not None else ""
        description = (
            f"Checkpoint of epoch {record.epoch + 1}{metric}{' (best so far)' if record.is_best else ''}; "
            f"run {record.run or '?'}; registered by alertcb from {os.path.basename(record.path)}."
        )
        try:
            with _mlflow_http.bounded(time.monotonic() + self.timeout_s, self.connect_timeout_s):
                version = self._client().register(record, key=key, tags=tags, description=description)
        except Exception as exc:  # noqa: BLE001 - every failure is classified, never raised into fit
            outcome = classify(exc, self._reason)
            self._quiet = outcome.verdict == "retry" and self._outage
            self._outage = outcome.verdict == "retry"
            return outcome
        self._outage = False
        logger.info("alertcb: checkpoint of epoch %d registered as %s version %s", record.epoch + 1,
                    self.model_name, version)
        return Outcome.delivered()

    def report_error(self, reason: str, record: CheckpointRecord | None) -> None:
        """As `Registry.report_error`, but once per outage, not once per retry."""
        if self._quiet:
            self._quiet = False
            logger.debug("alertcb: %s registry still unreachable: %s", self.name, scrub(reason))
            return
        super().report_error(reason, record)

    # ------------------------------------------------------------------ helpers
    def _client(self) -> MlflowCalls:
        if self._calls is None:
            self._calls = MlflowCalls(
                self._uri, self.model_name, alias=self.alias, experiment_name=self.experiment_name,
                run_id=self.run_id,
            )
        return self._calls

    def _reason(self, text: str) -> str:
        """Free text from MLflow with the tracking URI and every credential masked."""
        text = text.replace(self._uri.rstrip("/"), self._shown_uri.rstrip("/"))
        return scrub(mask_password(text))[:500]

    def _inspect(self, record: CheckpointRecord) -> tuple[str, int, str | None]:
        """``(problem, size, sha256)`` of the checkpoint as it is now (problem "" when fine)."""
        path = Path(record.path)
        try:
            if path.is_dir():
                files = [p for p in path.rglob("*") if p.is_file()]
                stats = [p.stat() for p in files]
                size = sum(s.st_size for s in stats)
                mtime = max((s.st_mtime for s in stats), default=path.stat().st_mtime)
            else:
                stat = path.stat()
                size, mtime = stat.st_size, stat.st_mtime
        except OSError:
            return f"checkpoint {record.path} vanished before it could be registered", 0, None
        if (record.size_bytes is not None and size != record.size_bytes and not path.is_dir()) or (
            mtime > record.time + 1.0
        ):
            return (
                f"checkpoint {record.path} was overwritten by a later write before it could be "
                "registered (the later write is registered on its own)",
                size,
                None,
            )
        sha256 = None
        if path.is_file() and 0 < size <= self.hash_max_bytes:
            digest = hashlib.sha256()
            try:
                with path.open("rb") as handle:
                    while chunk := handle.read(_HASH_CHUNK):
                        digest.update(chunk)
            except OSError:
                return f"checkpoint {record.path} could not be read", size, None
            sha256 = digest.hexdigest()
        return "", size, sha256

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            tracking_uri=self._shown_uri, model_name=self.model_name, alias=self.alias,
            experiment_name=self.experiment_name, timeout_s=self.timeout_s,
        )
        if self.run_id:
            out["run_id"] = self.run_id
        if self.tags:
            out["tags"] = dict(self.tags)
        return out
