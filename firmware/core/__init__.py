"""The device-side state machine, local API and status model: pure, CPython and MicroPython."""
