"""Self-provisioning by MAC (seed 001 "Provisioning"): a device holding its profile's provision key and secret
registers itself and receives its access token, through petit or through ThingsBoard's own ``/provision``."""
