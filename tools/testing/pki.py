"""A throw-away certificate authority and server certificate for the TLS tests (openssl CLI)."""

from __future__ import annotations

import os
import subprocess


def make_test_pki(folder: str) -> dict[str, str]:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost (openssl CLI)."""
    os.makedirs(folder, exist_ok=True)
    p = {name: os.path.join(folder, name) for name in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt", "san.cnf")}
    with open(p["san.cnf"], "w") as fh:
        fh.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=heatkeeper test CA",
         "-keyout", p["ca.key"], "-out", p["ca.crt"]],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", p["server.key"],
         "-out", p["server.csr"]],
        ["openssl", "x509", "-req", "-in", p["server.csr"], "-CA", p["ca.crt"], "-CAkey", p["ca.key"], "-CAcreateserial",
         "-days", "2", "-extfile", p["san.cnf"], "-out", p["server.crt"]],
    ]
    for argv in run:
        subprocess.run(argv, check=True, capture_output=True)
    return {"ca": p["ca.crt"], "cert": p["server.crt"], "key": p["server.key"]}
