"""Real-time streaming to apps: ``/ws`` (seed 003's protocol) and ``GET /devices/stream`` (SSE).

One ThingsBoard subscription per watched device per petit process; events fan out across processes through
Litestar channels (Redis pub/sub), carry a deployment-wide sequence, and are journaled for resume.
"""
