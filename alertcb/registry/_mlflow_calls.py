"""The MLflow 3 client calls behind `alertcb.registry.mlflow.MlflowRegistry`, and their verdicts.

One registration is: find the version by its idempotency key (a retry after a lost answer
must not create a second one), else create the registered model if absent, find or create
the MLflow run that holds the files, log the file, ``create_model_version`` with a
``runs:/`` source and that ``run_id``, then move the alias. Every call runs inside
`alertcb.registry._mlflow_http.bounded` (one try per request, the attempt's budget).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alertcb.channels.base import Outcome
from alertcb.registry import _mlflow_http
from alertcb.registry.base import CheckpointRecord

__all__ = ["MlflowCalls", "classify"]

_TRANSIENT_STATUS = frozenset({408, 425, 429})


class MlflowCalls:
    """An ``mlflow.MlflowClient`` and what one registry learned (model created, run ids).

    Args:
        uri: the tracking (and registry) URI.
        model_name: the registered model.
        alias: the alias moved to the best version, or None.
        experiment_name: where runs holding the files are created.
        run_id: a fixed MLflow run to log into, or None (one run per alertcb run).
    """

    def __init__(
        self, uri: str, model_name: str, *, alias: str | None, experiment_name: str, run_id: str | None
    ) -> None:
        from mlflow import MlflowClient  # slow (seconds): only ever on the sending thread

        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        self.model_name = model_name
        self.alias = alias
        self.experiment_name = experiment_name
        self.run_id = run_id
        self._model_ready = False
        self._runs: dict[str, str] = {}

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One client call, if the attempt still has time (`_mlflow_http.AttemptBudgetSpent`)."""
        _mlflow_http.request_timeout()
        return fn(*args, **kwargs)

    def register(self, record: CheckpointRecord, *, key: str, tags: dict[str, str], description: str) -> str:
        """Register ``record`` (idempotent by ``key``); returns the model version number."""
        version = self._find(key)
        if version is None:
            self._ensure_model()
            run_id = self._run_for(record.run or "alertcb")
            path = Path(record.path)
            folder = f"alertcb/{record.epoch + 1:04d}-{key[:8]}"
            if path.is_dir():
                self.call(self.client.log_artifacts, run_id, str(path), artifact_path=f"{folder}/{path.name}")
            else:
                self.call(self.client.log_artifact, run_id, str(path), artifact_path=folder)
            version = self.call(
                self.client.create_model_version,
                self.model_name,
                f"runs:/{run_id}/{folder}/{path.name}",
                run_id=run_id,
                tags=tags,
                description=description,
                await_creation_for=0,
            )
        if record.is_best and self.alias:
            self._move_alias(version, record)
        return str(version.version)

    def _find(self, key: str) -> Any:
        found = self.call(
            self.client.search_model_versions,
            f"name = '{self.model_name}' and tags.`alertcb.key` = '{key}'",
            max_results=10,
        )
        return min(found, key=lambda v: int(v.version)) if found else None

    def _ensure_model(self) -> None:
        if self._model_ready:
            return
        try:
            self.call(
                self.client.create_registered_model,
                self.model_name,
                tags={"alertcb.managed": "true"},
                description="Checkpoints registered by alertcb: one version per checkpoint written.",
            )
        except Exception as exc:
            if getattr(exc, "error_code", None) != "RESOURCE_ALREADY_EXISTS":
                raise
        self._model_ready = True

    def _run_for(self, run_name: str) -> str:
        """The MLflow run holding this alertcb run's files (found by tag, else created)."""
        if self.run_id:
            return self.run_id
        if run_name in self._runs:
            return self._runs[run_name]
        run_key = hashlib.sha256(run_name.encode("utf-8", "replace")).hexdigest()[:24]
        experiment = self.call(self.client.get_experiment_by_name, self.experiment_name)
        if experiment is None:
            try:
                experiment_id = self.call(self.client.create_experiment, self.experiment_name)
            except Exception as exc:
                if getattr(exc, "error_code", None) != "RESOURCE_ALREADY_EXISTS":
                    raise
                experiment_id = self.call(self.client.get_experiment_by_name, self.experiment_name).experiment_id
        else:
            experiment_id = experiment.experiment_id
        runs = self.call(
            self.client.search_runs, [experiment_id], f"tags.`alertcb.run_key` = '{run_key}'", max_results=1
        )
        if runs:
            run_id = str(runs[0].info.run_id)
        else:
            run = self.call(
                self.client.create_run,
                experiment_id,
                run_name=run_name[:250],
                tags={"alertcb.run": run_name, "alertcb.run_key": run_key},
            )
            run_id = str(run.info.run_id)
            self.call(self.client.set_terminated, run_id, "FINISHED")  # it only holds files
        self._runs[run_name] = run_id
        return run_id

    def _move_alias(self, version: Any, record: CheckpointRecord) -> None:
        """Point the alias at ``version`` unless a later best of the same run holds it already."""
        assert self.alias is not None
        if self.alias in (getattr(version, "aliases", None) or []):
            return
        try:
            current = self.call(self.client.get_model_version_by_alias, self.model_name, self.alias)
        except Exception as exc:
            if _status(exc) != 404 and getattr(exc, "error_code", None) not in (
                "RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"
            ):
                raise
            current = None
        if current is not None:
            if str(current.version) == str(version.version):
                return
            held = current.tags or {}
            epoch0 = held.get("alertcb.epoch0", "")
            if held.get("alertcb.run") == (record.run or "") and epoch0.isdigit() and int(epoch0) > record.epoch:
                return  # an older best delivered late (after a retry) must not take the alias back
        self.call(self.client.set_registered_model_alias, self.model_name, self.alias, version.version)


def _status(exc: BaseException) -> int | None:
    getter = getattr(exc, "get_http_status_code", None)
    if callable(getter):
        try:
            return int(getter())
        except (TypeError, ValueError):
            return None
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def classify(exc: BaseException, reason: Callable[[str], str]) -> Outcome:
    """MLflow's failure as an `Outcome`: connection errors, timeouts, 408/429/5xx retry; other
    4xx (a refused model name, a rejected version, no permission) are permanent.

    Args:
        exc: what the client raised.
        reason: masks the tracking URI and credentials in free text.
    """
    if isinstance(exc, _mlflow_http.AttemptBudgetSpent):
        return Outcome.retry(f"MLflow registry too slow: {exc}")
    if isinstance(exc, ImportError):
        return Outcome.permanent(f'MLflow is not importable ({exc.name}): pip install "alertcb[mlflow]"')
    text = reason(str(getattr(exc, "message", None) or exc))
    status = _status(exc)
    code = getattr(exc, "error_code", None)
    # MLflow reports connection errors and timeouts as its own INTERNAL_ERROR (500), with the
    # cause in the text; a server's answer is a RestException (or requests' HTTPError).
    answered = type(exc).__name__ in ("RestException", "HTTPError")
    if status is not None and (answered or code != "INTERNAL_ERROR"):
        label = f"HTTP {status}" + (f" {code}" if code else "")
        if status in _TRANSIENT_STATUS or status >= 500:
            return Outcome.retry(f"MLflow registry failing ({label}): {text}")
        return Outcome.permanent(f"MLflow registry refused ({label}): {text}")
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
        return Outcome.permanent(f"checkpoint could not be read: {type(exc).__name__}: {text}")
    return Outcome.retry(f"MLflow registry unreachable: {_short(text)}")


def _short(text: str) -> str:
    """The informative tail of urllib3's long connection messages."""
    for marker in ("Connection refused", "timed out", "Name or service not known", "Connection reset",
                   "Remote end closed connection", "Connection aborted"):
        if marker in text:
            head = text.split(" failed with exception", 1)[0]
            return f"{head}: {marker}"
    return text[:300]
