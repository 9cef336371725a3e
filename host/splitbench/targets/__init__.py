"""Targets: where a part runs. Host, adb phone and emulated phone share one interface."""
