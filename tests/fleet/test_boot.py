"""The boot step: settle the updater, then exec the station on the release `current` names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from release_kit import KitFetch, make_release, offer_for

from edge.fleet.boot import boot_and_exec
from edge.fleet.home import StationHome
from edge.fleet.updater import Updater

REPO_ROOT = Path(__file__).resolve().parents[2]


class Execed(Exception):
    """Stands in for the exec replacing the process: carries what would have run."""

    def __init__(self, path: str, argv: list[str], env: dict[str, str]) -> None:
        super().__init__(path)
        self.path = path
        self.argv = argv
        self.env = env


def _record_exec(path: str, argv: list[str], env: dict[str, str]) -> None:
    raise Execed(path, argv, env)


@pytest.fixture(autouse=True)
def _keep_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """boot_and_exec changes directory to the home; put it back after each test."""
    monkeypatch.chdir(Path.cwd())


@pytest.fixture
def home(tmp_path: Path) -> StationHome:
    return StationHome.provision(tmp_path / "home", factory_version="0.1.0")


@pytest.fixture
def on_trial(home: StationHome, tmp_path: Path) -> StationHome:
    fetch = KitFetch()
    fetch.publish(make_release(tmp_path / "repo", "0.2.0"))
    assert Updater(home, fetch=fetch).offer(offer_for("0.2.0")) is True
    return home


def test_a_base_release_runs_the_installed_station_with_no_pythonpath(
    home: StationHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")

    with pytest.raises(Execed) as execed:
        boot_and_exec(home, ["station", "run", "--home", str(home.root)], execve=_record_exec)

    assert execed.value.path == sys.executable
    assert execed.value.argv == [
        sys.executable,
        "-m",
        "edge.cli",
        "station",
        "run",
        "--home",
        str(home.root),
    ]
    assert "PYTHONPATH" not in execed.value.env


def test_a_release_on_trial_runs_from_its_lib_and_its_start_is_counted(
    on_trial: StationHome,
) -> None:
    with pytest.raises(Execed) as execed:
        boot_and_exec(on_trial, ["station", "run"], execve=_record_exec)

    assert execed.value.env["PYTHONPATH"] == str(on_trial.release_dir("0.2.0") / "lib")
    assert Path.cwd() == on_trial.root
    assert Updater(on_trial, fetch=KitFetch()).state.trial_starts == 1


def test_a_release_that_keeps_crashing_is_booted_back_to_the_previous_one(
    on_trial: StationHome,
) -> None:
    envs = []
    for _ in range(3):
        with pytest.raises(Execed) as execed:
            boot_and_exec(on_trial, ["station", "run"], max_trial_starts=2, execve=_record_exec)
        envs.append(execed.value.env.get("PYTHONPATH"))

    lib = str(on_trial.release_dir("0.2.0") / "lib")
    assert envs == [lib, lib, None]
    assert Updater(on_trial, fetch=KitFetch()).report().refusal == "crash_loop"


def test_boot_and_exec_really_replaces_the_process_with_the_release_on_current(
    on_trial: StationHome, tmp_path: Path
) -> None:
    proof = tmp_path / "proof.json"
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from edge.fleet.boot import boot_and_exec\nfrom edge.fleet.home import StationHome\n"
        "boot_and_exec(StationHome(Path(sys.argv[1])), sys.argv[2:])\n"
    )

    completed = subprocess.run(
        [sys.executable, "-c", script, str(on_trial.root), "station", "run", "--proof", str(proof)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    ran = json.loads(proof.read_text())
    lib = on_trial.release_dir("0.2.0") / "lib"
    assert ran["version"] == "0.2.0"
    assert Path(ran["module"]).resolve() == (lib / "edge" / "cli.py").resolve()
    assert ran["argv"] == ["station", "run", "--proof", str(proof)]
    assert Path(ran["cwd"]).resolve() == on_trial.root.resolve()
    assert ran["pythonpath"] == str(lib)
    assert Updater(on_trial, fetch=KitFetch()).state.trial_starts == 1
