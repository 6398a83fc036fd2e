"""`packline sim printer`: run the virtual Zebra network printer in the foreground.

It prints where it listens, then each label as it prints, until Ctrl-C. Faults can be changed
while it runs from another process through the SGD admin channel on the same port::

    ! U1 setvar "packline.faults" "paper_out,head_open"   (set exactly these faults)
    ! U1 setvar "packline.faults" ""                      (clear all faults)
    ! U1 getvar "packline.faults"                         (answers "head_open,paper_out")

Each line ends with CR LF or LF. Fault names are those of `Fault`: paper_out, head_open, paused,
ribbon_out, buffer_full, connection_dropped, no_status_reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from firmware_sim.zebra.model import Fault, PrintedLabel, ZebraPrinterModel
from firmware_sim.zebra.server import ZebraTcpServer

__all__ = ["describe_label", "run_printer"]


def describe_label(label: PrintedLabel) -> str:
    """A few human-readable lines for one printed label."""
    lines = [f"label #{label.sequence} x{label.copies} at {label.printed_at:%H:%M:%S}"]
    lines += [f"  text    ({f.x},{f.y}) font {f.font}: {f.data}" for f in label.fields]
    lines += [f"  barcode ({b.x},{b.y}) {b.symbology}: {b.data}" for b in label.barcodes]
    lines += [f"  error   {e.command}: {e.message}" for e in label.errors]
    return "\n".join(lines)


async def _serve(host: str, port: int, faults: Sequence[str]) -> None:
    model = ZebraPrinterModel(faults=[Fault(fault) for fault in faults])
    model.add_print_listener(lambda label: print(describe_label(label), flush=True))
    model.add_fault_listener(
        lambda now: print(f"faults: {', '.join(sorted(now)) or 'none'}", flush=True)
    )
    async with ZebraTcpServer(model, host=host, port=port) as server:
        active = ", ".join(sorted(model.faults)) or "none"
        print(f"virtual Zebra printer listening on tcp://{host}:{server.port}", flush=True)
        print(f"faults: {active}", flush=True)
        await server.serve_forever()


def run_printer(host: str, port: int, faults: list[str]) -> int:
    """Serve until Ctrl-C; return the process exit status."""
    try:
        asyncio.run(_serve(host, port, faults))
    except KeyboardInterrupt:
        print("virtual Zebra printer stopped", flush=True)
    except OSError as error:
        print(f"cannot listen on {host}:{port}: {error}", flush=True)
        return 1
    return 0
