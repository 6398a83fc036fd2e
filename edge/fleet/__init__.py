"""The station's side of the fleet: pushed configuration, and software updates verified by TUF.

The updater keeps every step of an update either done or redone across a power cut, and the
station always ends on a version that passed its health gate (see docs/fleet.md).
"""
