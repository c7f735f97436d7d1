"""ThingsBoard's REST surface and the HTTP device API, as Litestar route handlers."""
