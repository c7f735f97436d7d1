"""Sharing a device with other users and handing it over to a new owner."""
