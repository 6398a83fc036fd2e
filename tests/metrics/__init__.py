"""Tests of the Prometheus endpoints of the station and the bridge."""
