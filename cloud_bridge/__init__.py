"""Packline's cloud bridge: orders, allocation, credit checks and Sage posting."""
