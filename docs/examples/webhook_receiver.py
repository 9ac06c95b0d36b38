"""A biller's webhook receiver, as docs/partner-api.md ("Webhooks") asks for: checks the signature and the
timestamp, and handles each event once although the platform may deliver it more than once.

    python docs/examples/webhook_receiver.py --port 8080 --secret whsec_... --db seen.sqlite3

Delivery is at least once: a delivery whose answer was lost, or whose sender died after sending, is sent
again with the SAME event id (`X-BillPay-Event-Id`, also the body's "id"). The receiver records the id in
the same transaction as its own effect (here a row in `payments`) and answers 2xx to an id it has seen,
without doing anything again. Standard library only.
"""

import argparse
import hashlib
import hmac
import http.server
import json
import sqlite3
import threading
import time

MAX_SKEW_SECONDS = 300
MAX_BODY_BYTES = 64 * 1024


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class Store:
    """The receiver's own database: the ids it has handled, and what handling did."""

    def __init__(self, path: str = ":memory:"):
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.lock = threading.Lock()
        self.db.execute("CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY, received_at REAL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS payments (event_id TEXT, event TEXT, receipt_no TEXT)")

    def handle_once(self, event: dict) -> bool:
        """Record the id and the effect together; False (and nothing done) for an id seen before."""
        with self.lock:
            self.db.execute("BEGIN")
            inserted = self.db.execute(
                "INSERT OR IGNORE INTO seen (event_id, received_at) VALUES (?, ?)", (event["id"], time.time())
            ).rowcount
            if inserted:
                payment = event.get("payment") or {}
                self.db.execute(
                    "INSERT INTO payments VALUES (?, ?, ?)",
                    (event["id"], event["event"], payment.get("receipt_no", "")),
                )
            self.db.execute("COMMIT")
        return bool(inserted)

    def handled(self) -> list[tuple[str, str, str]]:
        with self.lock:
            return self.db.execute("SELECT event_id, event, receipt_no FROM payments").fetchall()


def make_handler(secret: str, store: Store):
    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                return self.answer(413)
            body = self.rfile.read(length)
            timestamp = self.headers.get("X-BillPay-Timestamp", "")
            signature = self.headers.get("X-BillPay-Signature", "")
            if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_SKEW_SECONDS:
                return self.answer(400)
            if not hmac.compare_digest(signature, expected_signature(secret, timestamp, body)):
                return self.answer(401)
            try:
                event = json.loads(body)
            except ValueError:
                return self.answer(400)
            if event.get("id") != self.headers.get("X-BillPay-Event-Id"):
                return self.answer(400)
            store.handle_once(event)  # a duplicate is acknowledged too, or it would be sent again
            return self.answer(200)

        def answer(self, status: int):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Receiver


def serve(secret: str, store: Store, host: str = "127.0.0.1", port: int = 0) -> http.server.HTTPServer:
    return http.server.ThreadingHTTPServer((host, port), make_handler(secret, store))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--db", default="webhook-events.sqlite3")
    options = parser.parse_args()
    server = serve(options.secret, Store(options.db), port=options.port)
    print(f"listening on {server.server_address[0]}:{server.server_address[1]}")
    server.serve_forever()
