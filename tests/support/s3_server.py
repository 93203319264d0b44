"""A real S3-compatible server on loopback: moto's standalone server, as a subprocess."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from workflows.dev_server import free_port
from workflows.payload_store import S3Options


@dataclass(frozen=True)
class S3Server:
    """Where the server listens and the credentials it accepts."""

    endpoint: str

    @property
    def options(self) -> S3Options:
        return S3Options(
            endpoint=self.endpoint,
            region="us-east-1",
            access_key_id="testing",
            secret_access_key="testing",
        )

    def create_bucket(self, name: str) -> None:
        httpx.put(f"{self.endpoint}/{name}", timeout=10).raise_for_status()


@contextmanager
def running_s3_server() -> Iterator[S3Server]:
    """Start ``moto.server`` on a free 127.0.0.1 port; stop it on exit."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=2)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        yield S3Server(endpoint)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
