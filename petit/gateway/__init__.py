"""Seed 004's device gateway: one-time provisioning tokens an owner issues, redeemed by the device for an
ingest key (and a fresh ThingsBoard access token), bearer-key telemetry ingest;
the owner sees the claims.

Its paths and snake_case bodies are the seed's, unchanged: ESP32 firmware in the field expects them.
"""
