"""The audit trail of device ownership: every pairing, claim, provisioning and release attempt, readable by
the device's owner (``ListDeviceEvents``). Flows record through
``petit.audit.services.DeviceEventService``."""
