"""A real Mosquitto broker on a free loopback port, for tests and the demo.

Tests run against the broker the stations use in production rather than a fake, so Will delivery,
retained messages and ACL enforcement are Mosquitto's own. Each broker gets its own temporary
directory for config, ACL, persistence and log, and its own port, so parallel runs and a system
broker on 1883 never interfere. Anonymous access is allowed on that loopback listener only.

Given a site PKI, the broker also opens a TLS listener configured as the production broker's
(deploy/mosquitto/mosquitto.conf): a client certificate from the site CA is required, its CN
becomes the username and the client id, the CRL is checked, and the ACL generated from the
contract confines each station to its own subtree. The secure path is then the tested path.
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
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from cloud_bridge.pki.names import BRIDGE_CERT_NAMES
from edge.contract import mosquitto_acl
from firmware_sim.errors import SimError
from firmware_sim.ports import free_port, launch_on_free_port

if TYPE_CHECKING:
    from cloud_bridge.pki import SitePki

__all__ = [
    "DEFAULT_MOSQUITTO",
    "PRODUCTION_LIMITS",
    "TLS_LISTENER_SETTINGS",
    "BrokerError",
    "BrokerStartError",
    "MosquittoBroker",
    "MosquittoNotInstalledError",
    "find_mosquitto",
]

DEFAULT_MOSQUITTO = Path("/usr/sbin/mosquitto")
_HOST = "127.0.0.1"

TLS_LISTENER_SETTINGS: dict[str, str] = {
    "allow_anonymous": "false",
    "require_certificate": "true",
    "use_identity_as_username": "true",
    "use_username_as_clientid": "true",
    "tls_version": "tlsv1.2",
}
"""The production listener's security settings (deploy/mosquitto/mosquitto.conf), besides files."""

PRODUCTION_LIMITS: dict[str, str] = {
    "max_queued_messages": "100000",
    "max_queued_bytes": "67108864",
    "max_inflight_messages": "100",
    "max_packet_size": "69632",
}
"""The production broker's queue and packet limits (deploy/mosquitto/mosquitto.conf explains
each); the demo's and the drill's brokers use them too, so they queue and refuse as it does."""


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

    With ``pki``, a second listener speaks TLS on `tls_port`, with the production settings and
    ``mosquitto_acl(bridge_names, reader_names)`` as its ACL. ``plain_listener=False`` drops the
    anonymous loopback listener; keeping it is for ``--insecure`` local development only, where
    any local process may speak for any station. Without a plain listener ``extra_config`` goes
    into the TLS listener's section.
    """

    def __init__(
        self,
        *,
        extra_config: str = "",
        acl: str | None = None,
        executable: Path | None = None,
        startup_timeout: float = 15.0,
        pki: SitePki | None = None,
        plain_listener: bool = True,
        bridge_names: Sequence[str] = BRIDGE_CERT_NAMES,
        reader_names: Sequence[str] = (),
    ) -> None:
        if executable is None:
            executable = find_mosquitto()
        elif not _is_executable(executable):
            raise _not_installed(f"at {executable} (not an executable file)")
        if pki is None and not plain_listener:
            raise BrokerError("a broker without its plain listener needs a pki for its TLS one")
        self._executable = executable
        self._extra_config = extra_config
        self._acl = acl
        self._startup_timeout = startup_timeout
        self._pki = pki
        self._plain_listener = plain_listener
        self._tls_acl = mosquitto_acl(bridge_names, reader_names) if pki is not None else None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._tls_port: int | None = None

    @property
    def host(self) -> str:
        return _HOST

    @property
    def port(self) -> int:
        """The plain, anonymous loopback listener's port."""
        if not self._plain_listener:
            raise BrokerError("this broker has no plain listener; use tls_port")
        if self._port is None:
            raise BrokerError("the broker has not been started; use it as a context manager")
        return self._port

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def tls_port(self) -> int:
        """The TLS listener's port: client certificates from the site CA, the ACL enforced."""
        if self._pki is None:
            raise BrokerError("this broker has no TLS listener; pass pki= to open one")
        if self._tls_port is None:
            raise BrokerError("the broker has not been started; use it as a context manager")
        return self._tls_port

    @property
    def tls_url(self) -> str:
        return f"mqtts://{self.host}:{self.tls_port}"

    @property
    def tls_acl(self) -> str | None:
        """The ACL text the TLS listener enforces, if it has one."""
        return self._tls_acl

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
        """Start (or restart) the broker, keeping its ports once they have been chosen."""
        if self.running:
            raise BrokerError(f"broker {self._address()} is already running")
        if self._port is not None or self._tls_port is not None:
            self._launch(self._port, self._tls_port)
            return
        launch_on_free_port(self._launch_on_fresh_ports, BrokerStartError)

    def reload(self) -> None:
        """Send SIGHUP: Mosquitto rereads its ACL, certificates and CRL, as on a production reload.

        A client connected before the reload keeps its connection.
        """
        if self._process is None or not self.running:
            raise BrokerError("the broker is not running; start it before reloading")
        self._process.send_signal(signal.SIGHUP)

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

    def _address(self) -> str:
        ports = [str(port) for port in (self._port, self._tls_port) if port is not None]
        return f"on {_HOST} port(s) {', '.join(ports) or 'not yet chosen'}"

    def _write_config(self, port: int | None, tls_port: int | None) -> Path:
        directory = self.directory
        lines = [
            "per_listener_settings true",
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            "persistence true",
            f"persistence_location {directory}/",
            f"log_dest file {directory / 'mosquitto.log'}",
            "log_type all",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if port is not None:
            lines += [f"listener {port} {_HOST}", "allow_anonymous true", "set_tcp_nodelay true"]
            if self._acl is not None:
                acl_path = directory / "acl"
                acl_path.write_text(self._acl)
                lines.append(f"acl_file {acl_path}")
            lines.append(self._extra_config)
        if tls_port is not None:
            lines += self._tls_listener(tls_port)
            if port is None:
                lines.append(self._extra_config)
        config = directory / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def _tls_listener(self, tls_port: int) -> list[str]:
        """The TLS listener's section: the production settings, on this broker's files."""
        pki, acl = self._pki, self._tls_acl
        if pki is None or acl is None:
            raise BrokerError("a TLS listener needs the site PKI; pass pki=")
        acl_path = self.directory / "tls-acl"
        acl_path.write_text(acl)
        return [
            f"listener {tls_port} {_HOST}",
            "set_tcp_nodelay true",
            *(f"{key} {value}" for key, value in TLS_LISTENER_SETTINGS.items()),
            f"cafile {pki.ca_file}",
            f"certfile {pki.broker_cert_file}",
            f"keyfile {pki.broker_key_file}",
            f"crlfile {pki.crl_file}",
            f"acl_file {acl_path}",
        ]

    def _launch_on_fresh_ports(self, port: int) -> None:
        if not self._plain_listener:
            self._launch(None, port)
            return
        tls_port = free_port() if self._pki is not None else None
        if tls_port == port:
            raise BrokerStartError(f"the TLS listener was given the plain port {port}")
        self._launch(port, tls_port)

    def _launch(self, port: int | None, tls_port: int | None) -> None:
        config = self._write_config(port, tls_port)
        self._port = port
        self._tls_port = tls_port
        with (self.directory / "stderr.log").open("ab") as stderr:
            self._process = subprocess.Popen(
                [str(self._executable), "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        for listening in (port, tls_port):
            if listening is not None:
                self._wait_until_listening(self._process, listening)

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
