"""The virtual network printer on TCP, in process and as the `packline sim printer` command."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from firmware_sim.zebra import Fault
from firmware_sim.zebra.server import ZebraTcpServer

WAIT = 10.0
LABEL = b"^XA^FO10,10^A0N,30,30^FDover tcp^FS^XZ"


@pytest.fixture
async def server() -> AsyncIterator[ZebraTcpServer]:
    async with ZebraTcpServer(port=0) as running:
        yield running


async def read_host_status(reader: asyncio.StreamReader) -> bytes:
    reply = b""
    async with asyncio.timeout(WAIT):
        while reply.count(b"\x03") < 3:
            chunk = await reader.read(1024)
            assert chunk, f"connection closed after {reply!r}"
            reply += chunk
    return reply


async def test_labels_sent_in_tiny_packets_print_once(server: ZebraTcpServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    for index in range(len(LABEL)):
        writer.write(LABEL[index : index + 1])
        await writer.drain()
    writer.write(b"~HS")
    await read_host_status(reader)
    writer.close()

    assert [label.field_data() for label in server.model.printed] == [["over tcp"]]


async def test_host_status_is_answered_on_the_same_socket(server: ZebraTcpServer) -> None:
    server.model.set_fault(Fault.HEAD_OPEN)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)

    writer.write(b"~HS")
    reply = await read_host_status(reader)
    writer.close()

    second = reply.split(b"\x03\r\n")[1][1:].split(b",")
    assert second[2] == b"1"


async def test_connection_dropped_hangs_up_open_and_new_connections(
    server: ZebraTcpServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    server.model.set_fault(Fault.CONNECTION_DROPPED)
    async with asyncio.timeout(WAIT):
        assert await reader.read(1024) == b""
    writer.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(LABEL + b"~HS")
    async with asyncio.timeout(WAIT):
        assert await reader.read(1024) == b""
    writer.close()
    assert server.model.printed == []


async def test_the_admin_channel_clears_connection_dropped(server: ZebraTcpServer) -> None:
    server.model.set_fault(Fault.CONNECTION_DROPPED)
    cleared = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_faults(faults: frozenset[Fault]) -> None:
        if not faults:
            loop.call_soon_threadsafe(cleared.set)

    server.model.add_fault_listener(on_faults)
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)

    writer.write(b'! U1 setvar "packline.faults" ""\r\n')
    await writer.drain()
    async with asyncio.timeout(WAIT):
        await cleared.wait()
    writer.close()

    assert server.model.faults == frozenset()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def connect_when_listening(port: int, process: subprocess.Popen[bytes]) -> socket.socket:
    deadline = time.monotonic() + WAIT
    while True:
        assert process.poll() is None, "the printer command exited early"
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_the_sim_printer_command_answers_host_status_with_paper_out_set() -> None:
    port = free_port()
    command = Path(sys.executable).with_name("packline")
    process = subprocess.Popen(
        [str(command), "sim", "printer", "--port", str(port), "--fault", "paper_out"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        with connect_when_listening(port, process) as connection:
            connection.sendall(b"~HS")
            reply = b""
            while reply.count(b"\x03") < 3:
                chunk = connection.recv(1024)
                assert chunk, f"connection closed after {reply!r}"
                reply += chunk
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=WAIT)

    frames = reply.split(b"\x03\r\n")
    assert frames[-1] == b""
    first, second, third = (frame[1:].split(b",") for frame in frames[:-1])
    assert (len(first), len(second), len(third)) == (12, 11, 2)
    assert first[1] == b"1"
    assert f"listening on tcp://127.0.0.1:{port}".encode() in output
