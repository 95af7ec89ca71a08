"""MlflowRegistry configuration: TOML, bad input, and credentials that never show."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from alertcb.config import load_config
from alertcb.errors import ConfigError
from alertcb.registry.base import CheckpointRecord
from alertcb.registry.mlflow import MlflowRegistry
from alertcb.testing import RecordingChannel
from tests.registry.conftest import MlflowServer, free_port
from tests.registry.mlflow_helpers import checkpoint_event, make_notifier, unique, wait_for, write_checkpoint

GOOD = {"tracking_uri": "http://127.0.0.1:5000", "model_name": "mnist"}


def test_built_from_toml(tmp_path: Path) -> None:
    """`[channels.reg] type = "mlflow"` builds an MlflowRegistry with its fields (durations parsed)."""
    path = tmp_path / "alertcb.toml"
    path.write_text(textwrap.dedent(
        """
        [channels.reg]
        type = "mlflow"
        tracking_uri = "https://mlflow.example.com"
        model_name = "mnist-mlp"
        alias = "champion"
        timeout_s = "2m"
        tags = { team = "vision" }
        """
    ))
    (registry,) = load_config(path).channels
    assert isinstance(registry, MlflowRegistry)
    assert (registry.name, registry.model_name, registry.alias, registry.timeout_s) == ("reg", "mnist-mlp", "champion", 120.0)
    assert registry.tags == {"team": "vision"} and registry.kinds == frozenset({"checkpoint"})


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"model_name": ""}, "model_name"),
        ({"model_name": "  "}, "model_name"),
        ({"model_name": "it's"}, "model_name"),
        ({"model_name": None}, "model_name"),
        ({"tracking_uri": "ftp://mlflow.example.com"}, "tracking_uri"),
        ({"tracking_uri": "databricks"}, "tracking_uri"),
        ({"tracking_uri": "file:///tmp/mlruns"}, "tracking_uri"),
        ({"tracking_uri": "http://mlflow.example.com"}, "tracking_uri"),  # plain http off loopback
        ({"alias": "latest"}, "alias"),
        ({"alias": "v3"}, "alias"),
        ({"alias": "has space"}, "alias"),
        ({"experiment_name": ""}, "experiment_name"),
        ({"tags": {"a": 1}}, "tags"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"connect_timeout_s": -1}, "connect_timeout_s"),
        ({"hash_max_bytes": -1}, "hash_max_bytes"),
        ({"chief_only": "yes"}, "chief_only"),
        ({"kinds": ["checkpoint", "nope"]}, "kinds"),
    ],
)
def test_bad_input_is_a_config_error_naming_the_field(override: dict[str, Any], field: str) -> None:
    """Each bad value is refused at construction, naming its field."""
    with pytest.raises(ConfigError) as info:
        MlflowRegistry(**{**GOOD, **override})
    assert info.value.field == field


def test_insecure_http_to_a_remote_host_only_when_allowed() -> None:
    """http:// to a non-loopback host needs allow_insecure_http (like every HTTP channel)."""
    registry = MlflowRegistry(tracking_uri="http://mlflow.internal:5000", model_name="m", allow_insecure_http=True)
    assert registry.describe()["tracking_uri"] == "http://mlflow.internal:5000"


def test_credentials_never_show(canary: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """user:password@ in the URI and MLFLOW_TRACKING_TOKEN stay out of repr, describe, outcomes and alerts."""
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", f"tok-{canary}")
    port = free_port()  # nothing listens: every attempt fails and is reported
    registry = MlflowRegistry(tracking_uri=f"http://ml:{canary}@127.0.0.1:{port}/", model_name="m", timeout_s=3)
    alerts = RecordingChannel(name="team")
    shown = f"{registry!r} {registry.describe()}"
    assert canary not in shown and "ml:***@127.0.0.1" in shown
    record = CheckpointRecord(str(write_checkpoint(tmp_path, "s.keras")), 0, None, None, True, None, "r", None,
                              time.time())
    outcome = registry.register(record)
    assert outcome.verdict == "retry" and canary not in outcome.reason and "127.0.0.1" in outcome.reason
    notifier = make_notifier(tmp_path, [registry, alerts])
    notifier.emit(checkpoint_event(Path(record.path), 0))
    assert wait_for(lambda: alerts.events)
    notifier.close(timeout_s=0.5)
    texts = [e.message + str(e.details) for e in alerts.events] + alerts.texts
    assert texts and not any(canary in t for t in texts)
    assert canary not in str(notifier.stats())


def test_basic_auth_credentials_reach_the_server(mlflow_server: MlflowServer, canary: str, tmp_path: Path) -> None:
    """Credentials in the URI are used (the server ignores them without auth) and still never show."""
    model = unique("auth")
    url = mlflow_server.url.replace("http://", f"http://ml:{canary}@")
    registry = MlflowRegistry(tracking_uri=url, model_name=model)
    record = CheckpointRecord(str(write_checkpoint(tmp_path, "a.keras")), 2, "loss", 0.1, True, None, "r", None,
                              time.time())
    assert registry.register(record).verdict == "delivered"
    (version,) = mlflow_server.client().search_model_versions(f"name = '{model}'")
    assert canary not in str(version)
