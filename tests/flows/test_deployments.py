"""prefect.yaml: every entrypoint loads, and `prefect deploy --all` registers every deployment and schedule."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from proactive_ml.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "prefect.yaml").read_text())
PREFECT = str(Path(sys.executable).parent / "prefect")
SAMPLES = ROOT / "tests" / "samples" / "landing"


def test_every_entrypoint_is_a_flow() -> None:
    from prefect import Flow

    assert SPEC["deployments"], "prefect.yaml declares no deployment"
    for dep in SPEC["deployments"]:
        path, func = dep["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert isinstance(getattr(module, func), Flow), dep["entrypoint"]


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - loopback only
        return json.loads(r.read())


def _post(url: str, body: dict) -> object:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback only
        return json.loads(r.read())


@pytest.fixture(scope="module")
def prefect_server(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The session's Prefect test server, for the CLI too: one server start less per suite.

    It is ephemeral, so no scheduler runs in it: only the runs a test asks for. Other flow tests' runs live in
    it as well, so a test looks up its runs by deployment.
    """
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path_factory.mktemp("prefect-home")),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    return api, env


@pytest.fixture(scope="module")
def deployed(prefect_server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The README's steps: the process work pool, then ``prefect deploy --all`` on a data folder."""
    api, env = prefect_server
    data = tmp_path_factory.mktemp("deployed") / "data"
    shutil.copytree(SAMPLES, data / "landing")
    env = {**env, "PROACTIVE_PROJECT_DIR": str(ROOT), "PROACTIVE_DATA_DIR": str(data)}
    pool = SPEC["deployments"][0]["work_pool"]["name"]
    subprocess.run(
        [PREFECT, "work-pool", "create", pool, "--type", "process"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [PREFECT, "--no-prompt", "deploy", "--all"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return api, env, data, pool


def test_prefect_deploy_all_registers_every_deployment_and_schedule(deployed) -> None:  # type: ignore[no-untyped-def]
    api, _, data, pool = deployed
    registered = {d["name"]: d for d in _post(f"{api}/deployments/filter", {})}  # type: ignore[union-attr]
    for dep in SPEC["deployments"]:
        assert dep["name"] in registered, f"{dep['name']} not registered"
        got = registered[dep["name"]]
        want = dep.get("schedules") or []
        assert len(got["schedules"]) == len(want), dep["name"]
        for w, g in zip(want, got["schedules"], strict=True):
            if "cron" in w:
                assert g["schedule"]["cron"] == w["cron"]
            else:
                assert g["schedule"]["interval"] == w["interval"]
        assert got["work_pool_name"] == pool
        assert got["job_variables"]["env"]["PROACTIVE_DATA_DIR"] == str(data)  # the data folder travels along
        assert got["job_variables"]["working_dir"] == str(ROOT)
    outreach = registered["outreach-daily"]
    assert outreach["global_concurrency_limit"]["limit"] == 1


def test_a_deployment_runs_through_a_process_worker(deployed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """ingest-hourly through a real process worker, on the data folder given at deploy time; named by its as-of."""
    api, env, data, pool = deployed
    name = "ingest-and-validate/ingest-hourly"
    subprocess.run(
        [PREFECT, "deployment", "run", name, "--param", 'as_of="2026-01-02T00:00:00"'],
        env=env,
        check=True,
        capture_output=True,
    )
    worker = subprocess.run(
        [PREFECT, "worker", "start", "--pool", pool, "--run-once"],
        env=env,
        cwd=tmp_path,  # the pull step moves the run to the project folder
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert worker.returncode == 0, worker.stdout + worker.stderr
    deployment = _get(f"{api}/deployments/name/{name}")
    runs = {"flow_runs": {"deployment_id": {"any_": [deployment["id"]]}}}  # type: ignore[index]
    (run,) = _post(f"{api}/flow_runs/filter", runs)  # type: ignore[misc]
    assert run["state_type"] == "COMPLETED", run["state"]
    assert run["name"] == "ingest-2026-01-02"  # named by its as-of date
    with Warehouse.connect(f"duckdb:///{data / 'warehouse.duckdb'}") as wh:
        assert wh.row_count("customers") > 0  # the deployment worked on the data folder it was given
