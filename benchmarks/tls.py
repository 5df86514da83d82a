"""A throwaway self-signed certificate for 127.0.0.1, so every client talks HTTPS to the emulator.

b24pysdk builds ``https://{domain}/rest/...`` with no option for plain HTTP, and a real portal is
HTTPS anyway, so the benchmark serves all clients over TLS on 127.0.0.1 and points each client's
trust store (``REQUESTS_CA_BUNDLE`` for requests, ``SSL_CERT_FILE`` for aiohttp/ssl) at this
certificate. Nothing leaves the loopback interface.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """Create (cert.pem, key.pem) for CN/SAN 127.0.0.1 in ``directory`` with the openssl CLI."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def client_environment(cert: Path) -> dict[str, str]:
    """Environment variables that make requests, aiohttp and the ssl module trust ``cert``."""
    return {"REQUESTS_CA_BUNDLE": str(cert), "SSL_CERT_FILE": str(cert), "CURL_CA_BUNDLE": str(cert)}
