"""Calibration of the model: simulation-based calibration (SBC)."""
