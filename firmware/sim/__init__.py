"""Host simulator: simulated Wi-Fi world, paho MQTT, many devices (python -m firmware.sim)."""
