"""The container images' Python layer, built without a Docker engine: for each service,
the Dockerfile's own `uv sync` commands run on a copy of exactly what .dockerignore lets
into the build context, and the resulting environment (no dev dependencies, no source
tree) starts the service's command line through the Dockerfile's entrypoint."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()
SERVICES = ("intake", "deadlines", "letters", "reporting")


def build_context(into: Path) -> Path:
    """Copy what .dockerignore admits (it ignores everything, then allows a few paths)."""
    rules = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()]
    assert "*" in rules, "the context starts from nothing"
    allowed = [rule[1:].rstrip("/") for rule in rules if rule.startswith("!")]
    assert sorted(allowed) == ["pyproject.toml", "services", "shared", "uv.lock"]
    ignored = shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache", "*.egg-info")
    for name in allowed:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=ignored)
        else:
            shutil.copy2(source, into / name)
    return into


def dockerfile_uv_syncs() -> list[str]:
    """The `uv sync` commands of the Dockerfile's build stage, in order."""
    commands = re.findall(r"^\s*(uv sync [^\n]+)$", DOCKERFILE, flags=re.MULTILINE)
    assert len(commands) == 2
    return commands


def dockerfile_entrypoint() -> list[str]:
    (line,) = re.findall(r"^ENTRYPOINT (\[.+\])$", DOCKERFILE, flags=re.MULTILINE)
    entrypoint: list[str] = json.loads(line)
    return entrypoint


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_context(tmp_path_factory.mktemp("context"))


@pytest.mark.parametrize("service", SERVICES)
def test_service_environment_installs_from_the_lock_and_starts(
    context: Path, tmp_path: Path, service: str
) -> None:
    venv = tmp_path / "venv"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))},
        "SERVICE": service,
        "UV_COMPILE_BYTECODE": "0",
        "UV_LINK_MODE": "hardlink",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PYTHON": sys.executable,
        "UV_PROJECT_ENVIRONMENT": str(venv),
    }
    for command in dockerfile_uv_syncs():
        subprocess.run(
            ["sh", "-c", command + " --quiet"], cwd=context, env=env, check=True, timeout=300
        )
    (site_packages,) = (venv / "lib").glob("python*/site-packages")
    assert not (site_packages / "pytest").exists(), "dev dependencies leaked into the image"
    # Installed as wheels, not editable: the code itself is in the environment.
    assert (site_packages / "putright" / service / "__main__.py").is_file()
    assert (site_packages / "putright" / "shared" / "runtime.py").is_file()

    # The entrypoint imports the whole service (its app, models and dependencies).
    runtime_env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "PUTRIGHT_SERVICE": service}
    started = subprocess.run(
        [*dockerfile_entrypoint(), "--help"],
        cwd=tmp_path,
        env=runtime_env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert f"putright-{service}" in started.stdout
    assert "migrate" in started.stdout
