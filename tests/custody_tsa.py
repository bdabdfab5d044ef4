"""A local RFC 3161 timestamp authority for tests: OpenSSL's `openssl ts -reply` on loopback.

`local_tsa(tmp)` makes a tiny CA and a TSA certificate (EC P-256, extendedKeyUsage
critical timeStamping) with openssl commands, then serves POSTed TimeStampReqs on
127.0.0.1 by running `openssl ts -reply` per request. Yields (url, ca_pem_path, config).
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TSA_CONF = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
certs = $dir/ca.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5.6
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_tsa(d: Path) -> Path:
    """CA + TSA certificate and the `openssl ts` config in `d`; returns the config path."""
    d.mkdir(parents=True, exist_ok=True)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=d)
    _openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-out", "ca.crt", "-days", "3",
        "-subj", "/CN=sourcevault test TSA CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )  # fmt: skip
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "tsa.key", cwd=d)
    _openssl("req", "-new", "-key", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=test TSA", cwd=d)
    (d / "tsa.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=critical,timeStamping\n"
    )
    _openssl(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "tsa.crt", "-days", "3", "-extfile", "tsa.ext",
        cwd=d,
    )  # fmt: skip
    (d / "serial").write_text("01\n")
    conf = d / "tsa.cnf"
    conf.write_text(TSA_CONF.format(dir=d))
    return conf


@contextlib.contextmanager
def local_tsa(d: Path) -> Iterator[tuple[str, Path, Path]]:
    conf = make_tsa(d)
    lock = threading.Lock()  # openssl ts updates its serial file: one reply at a time
    counter = iter(range(1_000_000))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                n = next(counter)
                query, reply = d / f"q{n}.tsq", d / f"r{n}.tsr"
                query.write_bytes(body)
                proc = subprocess.run(
                    ["openssl", "ts", "-reply", "-config", str(conf), "-queryfile", str(query),
                     "-out", str(reply)],
                    capture_output=True,
                )  # fmt: skip
            if proc.returncode != 0:
                self.send_response(500)
                self.end_headers()
                return
            data = reply.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa", d / "ca.crt", conf
    finally:
        server.shutdown()
        server.server_close()
