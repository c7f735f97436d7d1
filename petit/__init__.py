"""petit: the core API of an IoT product (accounts, device ownership, telemetry on ThingsBoard CE)."""

__version__ = "0.1.0"
