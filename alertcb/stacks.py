"""Python stacks and tracebacks as a paged engineer reads them: user code first, libraries counted.

`parse_frames` reads ``traceback`` / ``traceback.format_stack`` text; `collapse` lists the
frames innermost first with each run of library frames (site-packages, the standard
library, alertcb) folded into one ``… 10 library frames (tensorflow, keras)`` line;
`culprit` picks the innermost user frame closest to where its thread is blocked.

Example:
    >>> collapse(parse_frames('  File "/home/me/train.py", line 3, in batches\\n    time.sleep(9)'))
    ['/home/me/train.py:3 in batches: time.sleep(9)']
"""

from __future__ import annotations

import re
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MAX_FRAMES = 8

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>.+?)\s*$')
_CARETS = re.compile(r"^\s*[~^]+\s*$")
_CHAIN = re.compile(r"^(During handling of the above exception|The above exception was the direct cause)")
_LIBRARY_DIRS = ("/site-packages/", "/dist-packages/")
_LIBRARY_NAMES = ("tensorflow", "keras", "tf_keras", "jax", "torch", "numpy", "absl")
_STDLIB = tuple(
    p.rstrip("/") + "/" for p in {sysconfig.get_paths().get("stdlib", ""), sysconfig.get_paths().get("platstdlib", "")} if p
)
_ALERTCB_DIR = str(Path(__file__).resolve().parent) + "/"
_STDLIB_GUESS = re.compile(r"/lib/python3\.\d+/(?P<mod>[^/]+)")



def library_of(path: str) -> str | None:
    """The library a source file belongs to (``"tensorflow"``, ``"threading"``), or None for user code."""
    path = path.replace("\\", "/")
    if path.startswith("<frozen") or path.startswith("<built-in"):
        return "python"
    for marker in _LIBRARY_DIRS:
        if marker in path:
            return path.split(marker, 1)[1].split("/", 1)[0].removesuffix(".py") or "python"
    if path.startswith(_ALERTCB_DIR):
        return "alertcb"
    for prefix in _STDLIB:
        if path.startswith(prefix):
            return path[len(prefix) :].split("/", 1)[0].removesuffix(".py")
    guess = _STDLIB_GUESS.search(path)
    if guess:
        return guess.group("mod").removesuffix(".py")
    for name in _LIBRARY_NAMES:
        if f"/{name}/" in path:
            return name
    return None


def parse_frames(text: Any) -> list[dict[str, Any]]:
    """Frames of a traceback or ``traceback.format_stack`` text, outermost first.

    For chained exceptions only the last traceback counts (where it finally failed).
    """
    lines = str(text or "").splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if _CHAIN.match(lines[i].strip()):
            lines = lines[i + 1 :]
            break
    frames: list[dict[str, Any]] = []
    for line in lines:
        match = _FRAME.match(line)
        if match:
            file = match.group("file")
            frames.append(
                {"file": file, "line": int(match.group("line")), "func": match.group("func"), "code": "", "library": library_of(file)}
            )
        elif frames and not frames[-1]["code"] and line.strip() and not _CARETS.match(line) and line.startswith("    "):
            frames[-1]["code"] = line.strip()
    return frames


def short_path(path: str, limit: int = 60) -> str:
    """``/very/long/path/to/project/train.py`` → ``…/project/train.py`` when over ``limit`` chars."""
    if len(path) <= limit:
        return path
    parts = path.replace("\\", "/").split("/")
    tail = parts[-1]
    for part in reversed(parts[:-1]):
        if len(tail) + len(part) + 3 > limit:
            break
        tail = f"{part}/{tail}"
    return "…/" + tail


def frame_text(frame: Mapping[str, Any]) -> str:
    """``train.py:14 in batches: time.sleep(6)``."""
    where = f"{short_path(str(frame.get('file', '?')))}:{frame.get('line', '?')} in {frame.get('func', '?')}"
    code = _cut(str(frame.get("code") or ""), 120)
    return f"{where}: {code}" if code else where


def collapse(frames: list[dict[str, Any]], limit: int = MAX_FRAMES) -> list[str]:
    """Lines of a stack, innermost first, each run of library frames collapsed to a count."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            names = ", ".join(dict.fromkeys(run))
            out.append(f"… {len(run)} library frame{'s' if len(run) > 1 else ''} ({names})")
            run.clear()

    user_lines = 0
    for frame in reversed(frames):
        if frame["library"] is not None:
            run.append(frame["library"])
            continue
        flush()
        if user_lines >= limit:
            run.append("more of your code")
            continue
        out.append(frame_text(frame))
        user_lines += 1
    flush()
    return out


def culprit(stacks: list[tuple[str, list[dict[str, Any]]]]) -> tuple[str, dict[str, Any], bool] | None:
    """The innermost user frame that is closest to where its thread is blocked."""
    best: tuple[int, str, dict[str, Any]] | None = None
    for name, frames in stacks:
        for depth, frame in enumerate(reversed(frames)):
            if frame["library"] is None:
                if best is None or depth < best[0]:
                    best = (depth, name, frame)
                break
    if best is not None:
        return best[1], best[2], True
    for name, frames in stacks:
        if frames:
            return name, frames[-1], False
    return None



def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
