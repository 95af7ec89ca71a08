"""Benchmark 6: start-up cost, measured as whole processes (fork + exec + interpreter + imports).

Interleaved: ``python -c pass`` (the floor), ``python -c "import alertcb"``,
``alertcb --version`` (the installed console script), ``python -m alertcb --version`` and
``python -c "import alertcb; alertcb.Notifier"`` (``import alertcb`` defers its public
names, PEP 562; this is what the first real use pays); the median wall time of each.
Targets (issue 7): import <= 150 ms, --version <= 300 ms.

Then ``python -X importtime`` of the first real use (median over runs) shows where the
import time goes: the heaviest modules by self time and which of alertcb's own modules
pull in the most.

Run: python -m bench.startup [--quick] [--json PATH]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench._common import ROOT, bench_args, finish, loadavg, md_table, median

TARGETS_MS = {"python -c 'import alertcb'": 150.0, "alertcb --version": 300.0}


def _commands() -> dict[str, list[str]]:
    py = sys.executable
    script = shutil.which("alertcb", path=str(Path(py).parent)) or shutil.which("alertcb")
    cmds = {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import alertcb'": [py, "-c", "import alertcb"],
        "alertcb --version": [script] if script else [py, "-m", "alertcb"],
        "python -m alertcb --version": [py, "-m", "alertcb", "--version"],
        # import alertcb defers its public names (PEP 562): this is what the first real use pays
        "python -c 'import alertcb; alertcb.Notifier'": [py, "-c", "import alertcb; alertcb.Notifier"],
    }
    if script:
        cmds["alertcb --version"].append("--version")
    return cmds


def _time(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def importtime(runs: int, env: dict[str, str], code: str = "import alertcb") -> dict[str, Any]:
    """Median self/cumulative µs per module imported by ``code`` (``-X importtime``)."""
    selfs: dict[str, list[int]] = defaultdict(list)
    cums: dict[str, list[int]] = defaultdict(list)
    parent_of: dict[str, str] = {}
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            env=env, cwd="/", capture_output=True, text=True, check=True,
        )
        stack: list[tuple[int, str]] = []
        entries = []
        for line in proc.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            # "import time:  <self> | <cumulative> | <2 spaces per level>name"
            self_text, cum_text, raw_name = line.split(":", 1)[1].split("|", 2)
            depth = (len(raw_name) - len(raw_name.lstrip(" "))) // 2
            entries.append((depth, raw_name.strip(), int(self_text), int(cum_text)))
        # -X importtime prints children before their parent: rebuild parents in reverse
        for depth, name, self_us, cum_us in reversed(entries):
            while stack and stack[-1][0] >= depth:
                stack.pop()
            if stack:
                parent_of.setdefault(name, stack[-1][1])
            stack.append((depth, name))
            selfs[name].append(self_us)
            cums[name].append(cum_us)
    return {
        "self_us": {k: median(v) for k, v in selfs.items()},
        "cumulative_us": {k: median(v) for k, v in cums.items()},
        "parent": parent_of,
    }


def run(quick: bool = False) -> dict[str, Any]:
    repeats = 3 if quick else 20
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    cmds = _commands()
    samples: dict[str, list[float]] = {name: [] for name in cmds}
    for cmd in cmds.values():  # warm the page cache once
        _time(cmd, env)
    for _ in range(repeats):
        for name, cmd in cmds.items():
            samples[name].append(_time(cmd, env))
    base = median(samples["python -c pass"])
    rows = []
    result: dict[str, Any] = {"benchmark": "startup", "quick": quick, "loadavg_start": loadavg(),
                              "repeats": repeats, "commands": {}}
    for name, values in samples.items():
        ms = median(values) * 1000
        target = TARGETS_MS.get(name)
        result["commands"][name] = {"median_ms": ms, "min_ms": min(values) * 1000, "samples_s": values,
                                    "target_ms": target, "met": None if target is None else ms <= target}
        rows.append([name, ms, min(values) * 1000, ms - base * 1000,
                     "" if target is None else f"≤ {target:.0f} ms: {'met' if ms <= target else 'MISSED'}"])
    tables = [
        f"Start-up, whole processes (median of {repeats} interleaved runs; `python` is the venv's {sys.version.split()[0]})\n\n"
        + md_table(["command", "median ms", "min ms", "minus `python -c pass` ms", "target"], rows)
    ]
    it = importtime(3 if quick else 7, env, "import alertcb; alertcb.Notifier")
    cum, own, parent = it["cumulative_us"], it["self_us"], it["parent"]
    total = sum(c for n, c in cum.items() if n == "alertcb" or (n.startswith("alertcb.") and parent.get(n, "") == ""))
    # alertcb's own modules, by cumulative time; and the heaviest third-party/stdlib modules they pull in
    own_rows = sorted(((n, cum[n], own[n]) for n in cum if n.startswith("alertcb")), key=lambda r: -r[1])[:12]
    foreign = sorted(
        ((n, own[n], _first_alertcb_ancestor(n, parent)) for n in own if not n.startswith("alertcb")
         and _first_alertcb_ancestor(n, parent)),
        key=lambda r: -r[1],
    )[:15]
    result["importtime"] = {"total_us": total, "alertcb_modules": own_rows, "heaviest_foreign": foreign}
    tables.append(
        "`python -X importtime -c 'import alertcb; alertcb.Notifier'` (the first real use; `import alertcb` alone "
        "defers its public names): alertcb's own modules by cumulative import time "
        f"(median of runs; in-process total {total / 1000:.0f} ms, excluding interpreter start)\n\n"
        + md_table(["module", "cumulative ms", "self ms"], [[n, c / 1000, s / 1000] for n, c, s in own_rows])
    )
    tables.append(
        "Heaviest modules imported on behalf of alertcb (self time), with the alertcb module that pulls each in\n\n"
        + md_table(["module", "self ms", "imported via"], [[n, s / 1000, a] for n, s, a in foreign])
    )
    result["tables"] = tables
    return result


def _first_alertcb_ancestor(name: str, parent: dict[str, str]) -> str:
    seen = set()
    while name in parent and name not in seen:
        seen.add(name)
        name = parent[name]
        if name.startswith("alertcb"):
            return name
    return ""


def main() -> None:
    args = bench_args(__doc__)
    os.chdir(ROOT)
    finish(args, run(quick=args.quick))


if __name__ == "__main__":
    main()
