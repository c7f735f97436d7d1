"""A local ThingsBoard CE 4.3 or 4.4 look-alike for tests and development: REST, device MQTT/HTTP, WebSocket.

Run it::

    python -m thingsboard_emulator --host 127.0.0.1 --http-port 8080 --mqtt-port 1883 [--data tb.sqlite]

or in-process (ports 0 = chosen by the OS, read them back after start)::

    async with Emulator() as emu:            # on the caller's loop
        emu.http_url, emu.ws_url, emu.mqtt_port
    with Emulator().run_in_thread() as emu:  # own thread + loop, for synchronous clients
        ...

It starts like a fresh ThingsBoard: ``sysadmin@thingsboard.org``/``sysadmin``,
``tenant@thingsboard.org``/``tenant`` and a "default" device profile. State is in memory unless
``data_file`` names a SQLite file.

Test hooks: ``emu.faults`` (``rest_unavailable``, ``rest_slow``, ``rest_errors``, ``clear``; also
``POST /__emulator/faults``), ``emu.drop_mqtt_sessions()`` (also ``POST /__emulator/mqtt/drop-sessions``),
``emu.core.device_api.client_rpc_handler`` (answers device-side RPC; by default TB's rule chain leaves it
unanswered until ``{"error":"timeout"}``), and ``emu.core.config`` (timeouts, claiming defaults). The core
lives on the emulator's loop: from another thread, go through ``emu.call(fn, *args)``.
"""

from thingsboard_emulator.runner import Emulator

__all__ = ["Emulator"]
