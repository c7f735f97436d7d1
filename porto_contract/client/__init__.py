"""The app's reference client for petit and for a device's local API (checked against their OpenAPI)."""

from porto_contract.client.api import PortoClient
from porto_contract.client.device import DeviceClient
from porto_contract.client.errors import ProblemError
from porto_contract.client.pairing import PairingFailedError, pair_device

__all__ = ["DeviceClient", "PairingFailedError", "PortoClient", "ProblemError", "pair_device"]
