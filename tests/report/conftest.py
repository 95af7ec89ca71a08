from __future__ import annotations

import pytest

from alertcb.render import Renderer


@pytest.fixture(scope="session")
def renderer() -> Renderer:
    """The packaged templates, with a run dir and a link so every optional line renders."""
    return Renderer(run_dir="/runs/exp42", link_url="https://dash.example/runs/exp42")
