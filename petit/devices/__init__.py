"""Devices a user owns: petit keeps ownership and metadata, ThingsBoard keeps identity and credentials."""
