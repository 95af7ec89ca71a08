"""deploy/: every manifest parses and agrees with alertcb's real configuration schema."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from alertcb import Notifier
from alertcb.channels import Alertmanager
from alertcb.config import config_from_env, env_variable_names, load_config
from alertcb.distributed import detect_worker
from alertcb.events import Event, RunInfo, Severity
from tests.conftest_services import (
    PD_ROUTING_KEY,
    SLACK_TOKEN,
    PagerDutyStandIn,
    Receiver,
    free_port,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
JOB_YAML = DEPLOY / "k8s" / "training-job.yaml"
SBATCH = DEPLOY / "slurm" / "train.sbatch"
AM_YAML = DEPLOY / "alertmanager" / "alertmanager.yml"
TOML = DEPLOY / "alertcb.toml"
AMTOOL = os.environ.get("AMTOOL_BIN", "/usr/bin/amtool")
ALERTMANAGER_BIN = os.environ.get("ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager")
#: SIGTERM flush (flush_timeout_s) + this margin must fit in the grace period.
GRACE_MARGIN_S = 15
_ALERTCB_VAR = re.compile(r"\bALERTCB_[A-Z][A-Z0-9_]*[A-Z0-9]\b")
_INTERPOLATED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _k8s_docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(JOB_YAML.read_text()) if d]


def _doc(kind: str) -> dict[str, Any]:
    (doc,) = [d for d in _k8s_docs() if d["kind"] == kind]
    return doc


def _container() -> dict[str, Any]:
    (container,) = _doc("Job")["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _pod_env(config_path: Path) -> dict[str, str]:
    """The training container's environment as the kubelet would build it (dummy secret values)."""
    env: dict[str, str] = {}
    for item in _container()["env"]:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif "secretKeyRef" in item["valueFrom"]:
            env[item["name"]] = f"dummy-{item['valueFrom']['secretKeyRef']['key']}-0123456789"
        elif "fieldRef" in item["valueFrom"]:
            env[item["name"]] = "resnet50-exp42"
    env["ALERTCB_CONFIG"] = str(config_path)
    return env


def _flush_timeout_s() -> float:
    config = load_config(TOML, environ={var: "http://127.0.0.1:9093" for var in _INTERPOLATED.findall(TOML.read_text())})
    return float(config.notifier["flush_timeout_s"])


def test_every_manifest_and_config_parses() -> None:
    """Every YAML document, the TOML example and the sbatch script are syntactically valid."""
    files = sorted(p for p in DEPLOY.rglob("*") if p.is_file())
    assert {p.relative_to(DEPLOY).as_posix() for p in files} >= {
        "README.md", "alertcb.toml", "k8s/training-job.yaml", "slurm/train.sbatch", "alertmanager/alertmanager.yml",
    }
    for path in files:
        if path.suffix in (".yaml", ".yml"):
            assert all(isinstance(d, dict) for d in yaml.safe_load_all(path.read_text())), path
    assert [d["kind"] for d in _k8s_docs()] == ["ConfigMap", "PersistentVolumeClaim", "Job"]
    subprocess.run(["bash", "-n", str(SBATCH)], check=True)


def test_every_alertcb_variable_named_in_deploy_exists() -> None:
    """Every ALERTCB_* name in deploy/ (manifests, script, TOML, README) is one alertcb understands."""
    known = env_variable_names()
    used: dict[str, set[str]] = {}
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            for name in _ALERTCB_VAR.findall(path.read_text()):
                used.setdefault(name, set()).add(path.relative_to(DEPLOY).as_posix())
    assert set(used) - known == set(), used
    k8s_names = {e["name"] for e in _container()["env"] if e["name"].startswith("ALERTCB_")}
    sbatch_names = set(re.findall(r"export\s+(ALERTCB_[A-Z0-9_]+)=", SBATCH.read_text()))
    sbatch_names |= set(re.findall(r"^\s*(ALERTCB_[A-Z0-9_]+)=", SBATCH.read_text(), re.M))
    assert {"ALERTCB_CONFIG", "ALERTCB_RUN_NAME", "ALERTCB_RUN_DIR", "ALERTCB_WECOM_KEY"} <= k8s_names <= known
    assert {"ALERTCB_CONFIG", "ALERTCB_RUN_NAME", "ALERTCB_RUN_DIR", "ALERTCB_OUTBOX"} <= sbatch_names <= known


def test_example_toml_loads_with_the_real_schema() -> None:
    """deploy/alertcb.toml loads with load_config; its ${VAR}s are the Alertmanager URLs."""
    variables = set(_INTERPOLATED.findall(TOML.read_text()))
    assert variables == {"ALERTMANAGER_URL_0", "ALERTMANAGER_URL_1"}
    config = load_config(TOML, environ={"ALERTMANAGER_URL_0": "http://am-0:9093", "ALERTMANAGER_URL_1": "http://am-1:9093"})
    assert config.notifier["handle_sigterm"] is True
    assert config.notifier["send_from"] == "chief"
    (channel,) = config.channels
    assert isinstance(channel, Alertmanager)
    assert channel.urls == ["http://am-0:9093/api/v2/alerts", "http://am-1:9093/api/v2/alerts"]


def test_configmap_is_the_example_toml_verbatim() -> None:
    """The ConfigMap embeds deploy/alertcb.toml unchanged, and ALERTCB_CONFIG points at its mount."""
    config_map = _doc("ConfigMap")
    assert config_map["data"]["alertcb.toml"] == TOML.read_text()
    pod = _doc("Job")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    env = {e["name"]: e for e in _container()["env"]}
    mount = next(m for m in _container()["volumeMounts"] if env["ALERTCB_CONFIG"]["value"].startswith(m["mountPath"] + "/"))
    assert volumes[mount["name"]]["configMap"]["name"] == config_map["metadata"]["name"]
    assert env["ALERTCB_CONFIG"]["value"] == mount["mountPath"] + "/alertcb.toml"


def test_k8s_pod_environment_builds_a_working_notifier(tmp_path: Path) -> None:
    """The pod's env (dummy secrets) + the ConfigMap build the expected Notifier via Notifier.from_env."""
    config_path = tmp_path / "alertcb.toml"
    config_path.write_text(_doc("ConfigMap")["data"]["alertcb.toml"])
    env = _pod_env(config_path)
    config = config_from_env(env)
    assert {c.name: c.type for c in config.channels} == {"alertmanager-ha": "alertmanager", "wecom": "wecom"}
    assert config.notifier["run_name"] == "resnet50-exp42"
    assert config.notifier["job"] == "resnet50-sweep"
    wecom = next(c for c in config.channels if c.type == "wecom")
    assert wecom.accepts(Event(kind="summary", title="done")) and not wecom.accepts(
        Event(kind="nonfinite", title="loss is NaN", severity=Severity.CRITICAL)
    )
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("ALERTCB_")]:
            mp.delenv(key)
        for key, value in env.items():
            mp.setenv(key, value)
        notifier = Notifier.from_env(run_dir=tmp_path / "runs", handle_sigterm=False)
    try:
        assert notifier.run.name == "resnet50-exp42"
        assert notifier.run.labels == {"team": "ml"}
    finally:
        notifier.close(0)


def test_k8s_secrets_come_from_a_secret() -> None:
    """Keys and webhook URLs are secretKeyRef env vars, never literal values in the manifest."""
    secret_like = re.compile(r"_(KEY|WEBHOOK_URL|PASSWORD|SECRET|ROUTING_KEY)$")
    for item in _container()["env"]:
        if secret_like.search(item["name"]):
            assert "secretKeyRef" in item.get("valueFrom", {}), item["name"]


def test_k8s_grace_period_covers_the_sigterm_flush() -> None:
    """terminationGracePeriodSeconds > flush_timeout_s + margin, with handle_sigterm on and python not PID 1."""
    pod = _doc("Job")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= _flush_timeout_s() + GRACE_MARGIN_S
    container = _container()
    assert container["command"][0] in ("python", "python3", "tini", "dumb-init")  # exec form, no shell
    assert pod.get("shareProcessNamespace") is True or container["command"][0] in ("tini", "dumb-init")


def test_k8s_run_dir_and_outbox_are_on_the_persistent_volume() -> None:
    """ALERTCB_RUN_DIR (and so the outbox) lives on the PVC declared in the same file."""
    pod = _doc("Job")["spec"]["template"]["spec"]
    run_dir = next(e["value"] for e in _container()["env"] if e["name"] == "ALERTCB_RUN_DIR")
    mount = next(m for m in _container()["volumeMounts"] if (run_dir + "/").startswith(m["mountPath"].rstrip("/") + "/"))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["persistentVolumeClaim"]["claimName"] == _doc("PersistentVolumeClaim")["metadata"]["name"]
    assert not mount.get("readOnly", False)
    assert _doc("PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_sbatch_asks_for_sigterm_before_the_time_limit() -> None:
    """The sbatch script has #SBATCH --signal=TERM@N for the tasks (no B:), N > flush_timeout_s."""
    match = re.search(r"^#SBATCH\s+--signal=(B:|R:)?(?:TERM|SIGTERM|15)@(\d+)\s*$", SBATCH.read_text(), re.M)
    assert match, "missing #SBATCH --signal=TERM@N"
    assert match.group(1) in (None, "R:"), "B: would signal only the batch shell, not the training tasks"
    assert int(match.group(2)) > _flush_timeout_s()


@pytest.fixture
def fake_slurm(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A PATH with stand-ins for srun (2 tasks) and python (dumps its environment)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dumps = tmp_path / "env"
    dumps.mkdir()
    srun = bin_dir / "srun"
    srun.write_text(
        "#!/bin/bash\n"
        "while [[ $1 == -* ]]; do shift; done\n"
        "for p in $(seq 0 $((SLURM_NTASKS - 1))); do SLURM_PROCID=$p \"$@\" || exit 1; done\n"
    )
    python = bin_dir / "python"
    python.write_text(f"#!/bin/bash\nenv -0 > {dumps}/task-$SLURM_PROCID\n")
    for script in (srun, python):
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    home = tmp_path / "home"
    (home / ".config" / "alertcb").mkdir(parents=True)
    (home / ".config" / "alertcb" / "wecom-key").write_text("dummy-wecom-key-0123456789\n")
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(home),
        "USER": "tester",
        "TMPDIR": str(tmp_path / "tmp"),
        "SLURM_SUBMIT_DIR": str(ROOT),
        "SLURM_JOB_NAME": "resnet50-exp42",
        "SLURM_JOB_ID": "4711",
        "SLURM_NTASKS": "2",
        "SLURM_PROCID": "0",
    }
    yield dumps, env


def test_sbatch_gives_each_task_its_rank_and_a_valid_configuration(fake_slurm: tuple[Path, dict[str, str]]) -> None:
    """Run under a fake srun, each task gets RANK=SLURM_PROCID and an environment alertcb accepts."""
    dumps, env = fake_slurm
    subprocess.run(["bash", str(SBATCH)], env=env, check=True, timeout=30)
    ranks = []
    for index in (0, 1):
        pairs = (dumps / f"task-{index}").read_text().split("\0")
        task_env = dict(p.split("=", 1) for p in pairs if "=" in p)
        assert task_env["RANK"] == str(index) and task_env["WORLD_SIZE"] == "2"
        worker = detect_worker(task_env)
        ranks.append((worker.label, worker.is_chief))
        config = config_from_env(task_env)
        assert config.notifier["run_name"] == "resnet50-exp42-4711"
        assert config.notifier["outbox"].startswith(env["TMPDIR"])  # node-local SQLite
        assert {c.type for c in config.channels} == {"alertmanager", "wecom"}
    assert ranks == [("rank:0", True), ("rank:1", False)]


def test_amtool_check_config_passes() -> None:
    """`amtool check-config deploy/alertmanager/alertmanager.yml` succeeds."""
    if not shutil.which(AMTOOL):
        pytest.skip(f"{AMTOOL} is not installed (apt-get install prometheus-alertmanager)")
    result = subprocess.run([AMTOOL, "check-config", str(AM_YAML)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _labels(kind: str, severity: str) -> dict[str, str]:
    run = RunInfo(name="exp42", host="gpu-07", worker="worker:1", job="sweep-3", labels={"team": "ml"})
    return Alertmanager(urls=["http://127.0.0.1:9093"]).labels_for(
        Event(kind=kind, title=f"{kind} trouble", severity=Severity.parse(severity), run=run)
    )


@pytest.mark.parametrize(
    ("kind", "severity", "receiver_name"),
    [
        ("nonfinite", "critical", "oncall-critical"),
        ("hang", "critical", "oncall-critical"),
        ("spike", "warning", "slack-warnings"),
        ("plateau", "warning", "slack-warnings"),
        ("custom", "info", "null"),
    ],
)
def test_example_route_sends_alertcb_labels_to_the_right_receiver(kind: str, severity: str, receiver_name: str) -> None:
    """`amtool config routes test` routes the labels alertcb really sends as documented."""
    if not shutil.which(AMTOOL):
        pytest.skip(f"{AMTOOL} is not installed (apt-get install prometheus-alertmanager)")
    labels = _labels(kind, severity)
    assert {"alertname", "run", "job", "kind", "severity", "worker", "team"} <= set(labels)
    result = subprocess.run(
        [AMTOOL, "config", "routes", "test", f"--config.file={AM_YAML}", f"--verify.receivers={receiver_name}",
         *(f"{k}={v}" for k, v in labels.items())],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [receiver_name]


def test_example_config_groups_by_run_and_inhibits_warnings_of_a_critical_run() -> None:
    """The route groups by job+run (labels alertcb sets) and a critical mutes warnings of the same run."""
    config = yaml.safe_load(AM_YAML.read_text())
    assert config["route"]["group_by"] == ["job", "run"]
    (rule,) = config["inhibit_rules"]
    assert rule["equal"] == ["job", "run"]
    assert set(config["route"]["group_by"]) <= set(_labels("spike", "warning"))


def _serve_example_config(tmp_path: Path, pagerduty: PagerDutyStandIn, slack: Receiver, bridge: Receiver) -> Path:
    """The example config with its secrets files, PagerDuty API and bridge pointed at loopback stand-ins."""
    config = yaml.safe_load(AM_YAML.read_text())
    config["route"].update(group_wait="1s", group_interval="1s")
    receivers = {r["name"]: r for r in config["receivers"]}
    (tmp_path / "pd-key").write_text(PD_ROUTING_KEY)
    (tmp_path / "slack-url").write_text(slack.base_url + "/services/T000/B000/" + SLACK_TOKEN)
    pd_config = receivers["oncall-critical"]["pagerduty_configs"][0]
    pd_config.update(routing_key_file=str(tmp_path / "pd-key"), url=pagerduty.url)
    receivers["oncall-critical"]["webhook_configs"][0]["url"] = bridge.url
    receivers["slack-warnings"]["slack_configs"][0]["api_url_file"] = str(tmp_path / "slack-url")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def slack_hook() -> Iterator[Receiver]:
    """Records Alertmanager's Slack posts (legacy attachments, which Slack accepts)."""
    server = Receiver()
    server.start()
    yield server
    server.stop()


def test_example_route_delivers_alertcb_alerts_end_to_end(
    tmp_path: Path, pagerduty_server: PagerDutyStandIn, slack_hook: Receiver, receiver: Receiver
) -> None:
    """A real Alertmanager with the example config: critical -> PagerDuty + WeCom bridge, warning -> Slack,
    and a run's warnings are muted while it has a critical."""
    if not os.path.exists(ALERTMANAGER_BIN):
        pytest.skip(f"{ALERTMANAGER_BIN} is not installed (apt-get install prometheus-alertmanager)")
    config = _serve_example_config(tmp_path, pagerduty_server, slack_hook, receiver)
    port = free_port()
    log = open(tmp_path / "am.log", "wb")
    proc = subprocess.Popen(
        [ALERTMANAGER_BIN, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    log.close()
    notifiers: list[Notifier] = []
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _ready(url), 20)
        for run in ("exp42", "exp43"):
            notifiers.append(Notifier(
                [Alertmanager(urls=[url])], run_name=run, job="sweep-3", labels={"team": "ml"},
                run_dir=False, outbox=False, group_wait_s=0, worker="worker:0",
            ))
        bad, healthy = notifiers
        bad.emit(bad.event("nonfinite", "loss is NaN", "loss became NaN at step 12", severity="critical"))
        bad.emit(bad.event("spike", "loss spike", "loss 40x the median", severity="warning"))  # inhibited
        healthy.emit(healthy.event("spike", "loss spike", "loss 12x the median", severity="warning"))
        assert all(n.flush(10) == 0 for n in notifiers)
        wait_for(lambda: pagerduty_server.accepted and receiver.accepted and slack_hook.accepted, 15)
        time.sleep(2.5)  # two more group_intervals: nothing else may arrive
        (trigger,) = pagerduty_server.accepted
        assert trigger["event_action"] == "trigger" and trigger["payload"]["severity"] == "critical"
        assert "exp42" in trigger["payload"]["summary"]
        (bridge_call,) = receiver.bodies()
        assert [(a["labels"]["run"], a["labels"]["kind"]) for a in bridge_call["alerts"]] == [("exp42", "nonfinite")]
        (slack_call,) = slack_hook.bodies()
        assert slack_hook.accepted[0].path.endswith("/" + SLACK_TOKEN)
        assert slack_call["channel"] == "#ml-training"
        assert "exp43" in json.dumps(slack_call) and "exp42" not in json.dumps(slack_call)
        assert not pagerduty_server.rejected
    finally:
        for notifier in notifiers:
            notifier.close(2)
        proc.terminate()
        proc.wait(10)
    assert "level=error" not in (tmp_path / "am.log").read_text(), (tmp_path / "am.log").read_text()


def _ready(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/-/ready", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False

