"""Telemetry of a user's own devices: latest values and history, read from ThingsBoard through the port."""
