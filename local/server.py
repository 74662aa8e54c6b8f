"""Run an ASGI app with uvicorn on a pre-bound loopback socket, in a thread or the foreground."""

from __future__ import annotations

import errno
import socket
import threading
import time
from typing import Any

import uvicorn

# API Gateway's limit (32 KB) is enforced by the gateway itself so it can close with 1009.
WS_MAX_SIZE = 1024 * 1024


class PortInUseError(OSError):
    """The requested port is already taken."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"{host}:{port} is already in use")
        self.host = host
        self.port = port


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0 = any free port); PortInUseError if taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(host, port) from exc
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (for servers we cannot hand a socket to)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class AppServer:
    """uvicorn serving ``app`` on an already bound socket."""

    def __init__(self, app: Any, sock: socket.socket, **config: Any) -> None:
        host, port = sock.getsockname()[:2]
        self.host: str = host
        self.port: int = port
        self.sock = sock
        options: dict[str, Any] = {
            "ws": "websockets-sansio",
            "ws_max_size": WS_MAX_SIZE,
            "ws_per_message_deflate": False,  # API Gateway does not negotiate compression
            "lifespan": "off",
            "log_config": None,
            "access_log": False,
            "timeout_keep_alive": 75,
            "timeout_graceful_shutdown": 3,
        }
        options.update(config)
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **options))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Serve in a daemon thread; returns once uvicorn accepts connections."""
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name=f"uvicorn:{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the gateway on port {self.port} failed to start")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the gateway on port {self.port} did not start in {timeout:.0f} s")
            time.sleep(0.005)

    def run(self) -> None:
        """Serve in this thread until SIGINT/SIGTERM (uvicorn re-raises SIGINT afterwards)."""
        self.server.run(sockets=[self.sock])

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread (if any)."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self.server.force_exit = True
                self._thread.join(2)
            self._thread = None
        self.sock.close()
