"""Drivers for the station's hardware: barcode reader, label printer, pick-to-light.

Each driver reaches its hardware only through the library's own seam (a pyusb backend, a gpiozero
pin factory, a host and port, a CUPS queue), so the same code runs on a Pi and against
`firmware_sim` in CI.
"""
