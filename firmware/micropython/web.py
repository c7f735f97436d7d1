"""A minimal HTTP/1.0 JSON POST client for MicroPython (seed 004 gateway: claim and ingest).

Plain http:// only for now; https needs ``ssl.wrap_socket`` and the server's CA, which the board
must carry (not done yet).
"""

import json
import socket

from firmware.core import status as st


def _split(url):
    if not url.startswith("http://"):
        raise st.MqttFailure(st.SERVER_ERROR, "only http:// gateways are supported")
    rest = url[7:]
    slash = rest.find("/")
    hostport, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    host, _, port = hostport.partition(":")
    return host, int(port or 80), path


class Web:
    def __init__(self, timeout_s=5):
        self.timeout_s = timeout_s

    def post(self, url, body, headers):
        host, port, path = _split(url)
        payload = json.dumps(body).encode()
        head = "POST " + path + " HTTP/1.0\r\nHost: " + host + "\r\nContent-Type: application/json\r\n"
        for name in headers:
            head += name + ": " + headers[name] + "\r\n"
        head += "Content-Length: " + str(len(payload)) + "\r\n\r\n"
        sock = socket.socket()
        try:
            sock.settimeout(self.timeout_s)
            sock.connect(socket.getaddrinfo(host, port)[0][-1])
            sock.send(head.encode() + payload)
            data = b""
            while True:
                chunk = sock.recv(512)
                if not chunk:
                    break
                data += chunk
        except OSError as error:
            timed_out = "timed out" in str(error) or (error.args and error.args[0] == 110)
            title = st.SERVER_REQUEST_TIMEOUT if timed_out else st.SERVER_ERROR
            raise st.MqttFailure(title, str(error)) from None
        finally:
            sock.close()
        head, _, rest = data.partition(b"\r\n\r\n")
        try:
            code = int(head.split(b" ")[1])
        except (IndexError, ValueError):
            raise st.MqttFailure(st.SERVER_ERROR, "not an HTTP answer") from None
        try:
            answer = json.loads(rest) if rest else {}
        except ValueError:
            answer = {}
        return code, answer if isinstance(answer, dict) else {}
