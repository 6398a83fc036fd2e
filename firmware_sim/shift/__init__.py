"""The whole-shift demo: its data, its processes, its faults and its books."""
