"""A real Mosquitto broker on a free loopback port, for tests and the demo.

Tests run against the broker the stations use in production rather than a fake, so Will delivery,
retained messages and ACL enforcement are Mosquitto's own. Each broker gets its own temporary
directory for config, ACL, persistence and log, and its own port, so parallel runs and a system
broker on 1883 never interfere. Anonymous access is allowed on that loopback listener only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from firmware_sim.errors import SimError
from firmware_sim.ports import launch_on_free_port

__all__ = [
    "DEFAULT_MOSQUITTO",
    "BrokerError",
    "BrokerStartError",
    "MosquittoBroker",
    "MosquittoNotInstalledError",
    "find_mosquitto",
]

DEFAULT_MOSQUITTO = Path("/usr/sbin/mosquitto")
_HOST = "127.0.0.1"


class BrokerError(SimError, RuntimeError):
    """Base of the errors the simulated rig's broker raises."""


class MosquittoNotInstalledError(BrokerError, FileNotFoundError):
    """No mosquitto executable; the message names the Debian package to install."""


class BrokerStartError(BrokerError):
    """Mosquitto did not start listening; the message quotes its log."""


def _not_installed(where: str) -> MosquittoNotInstalledError:
    return MosquittoNotInstalledError(
        f"mosquitto not found {where}; install the Debian package 'mosquitto' "
        "(apt-get install mosquitto)"
    )


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_mosquitto(default: Path = DEFAULT_MOSQUITTO) -> Path:
    """The mosquitto executable: the Debian location first, then PATH."""
    if _is_executable(default):
        return default
    found = shutil.which("mosquitto")
    if found is None:
        raise _not_installed(f"at {default} or on PATH")
    return Path(found)


class MosquittoBroker:
    """One private Mosquitto: ``with MosquittoBroker() as broker: connect to broker.port``.

    ``extra_config`` is appended inside the loopback listener's section (settings are per
    listener), and ``acl`` becomes its ``acl_file``. The broker can be stopped, killed and started
    again on the same port and persistence, to test recovery. Not re-entrant.
    """

    def __init__(
        self,
        *,
        extra_config: str = "",
        acl: str | None = None,
        executable: Path | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        if executable is None:
            executable = find_mosquitto()
        elif not _is_executable(executable):
            raise _not_installed(f"at {executable} (not an executable file)")
        self._executable = executable
        self._extra_config = extra_config
        self._acl = acl
        self._startup_timeout = startup_timeout
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    @property
    def host(self) -> str:
        return _HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise BrokerError("the broker has not been started; use it as a context manager")
        return self._port

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def directory(self) -> Path:
        """The broker's private directory: config, ACL, persistence and log."""
        if self._tempdir is None:
            raise BrokerError("the broker has not been started; use it as a context manager")
        return Path(self._tempdir.name)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_text(self) -> str:
        """Everything the broker has logged so far (for failure messages)."""
        parts = []
        for name in ("mosquitto.log", "stderr.log"):
            try:
                parts.append((self.directory / name).read_text(errors="replace"))
            except FileNotFoundError:
                continue
        return "".join(parts)

    def __enter__(self) -> Self:
        if self._tempdir is not None:
            raise BrokerError("MosquittoBroker is not re-entrant; create another one")
        self._tempdir = tempfile.TemporaryDirectory(prefix="packline-mosquitto-")
        try:
            self.start()
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._cleanup()

    def start(self) -> None:
        """Start (or restart) the broker, keeping its port once one has been chosen."""
        if self.running:
            raise BrokerError(f"broker on port {self.port} is already running")
        if self._port is not None:
            self._launch(self._port)
            return
        launch_on_free_port(self._launch, BrokerStartError)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop cleanly (SIGTERM): Mosquitto writes its persistence file on the way out."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash or power cut would."""
        self._end(signal.SIGKILL, 10.0)

    def _end(self, how: signal.Signals, timeout: float) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(how)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _cleanup(self) -> None:
        try:
            self.stop()
        finally:
            self._process = None
            if self._tempdir is not None:
                self._tempdir.cleanup()
                self._tempdir = None

    def _write_config(self, port: int) -> Path:
        directory = self.directory
        lines = [
            "per_listener_settings true",
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            "persistence true",
            f"persistence_location {directory}/",
            f"log_dest file {directory / 'mosquitto.log'}",
            "log_type all",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            f"listener {port} {_HOST}",
            "allow_anonymous true",
            "set_tcp_nodelay true",
        ]
        if self._acl is not None:
            acl_path = directory / "acl"
            acl_path.write_text(self._acl)
            lines.append(f"acl_file {acl_path}")
        config = directory / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n" + self._extra_config + "\n")
        return config

    def _launch(self, port: int) -> None:
        config = self._write_config(port)
        self._port = port
        with (self.directory / "stderr.log").open("ab") as stderr:
            self._process = subprocess.Popen(
                [str(self._executable), "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        self._wait_until_listening(self._process, port)

    def _wait_until_listening(self, process: subprocess.Popen[bytes], port: int) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                raise BrokerStartError(
                    f"mosquitto exited with code {process.returncode} before listening on "
                    f"{_HOST}:{port}; log:\n{self.log_text()}"
                )
            try:
                with socket.create_connection((_HOST, port), timeout=1.0):
                    return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise BrokerStartError(
            f"mosquitto did not listen on {_HOST}:{port} within {self._startup_timeout} s; "
            f"log:\n{self.log_text()}"
        )
