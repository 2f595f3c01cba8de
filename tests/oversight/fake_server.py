"""A fake OpenAI-compatible chat-completions server: a real HTTP server (the standard library's, one thread per
request) in a thread of the test process, with scripted answers. It stands in for vLLM / llama.cpp, a
server outside the project; nothing of the project is faked.

    with FakeModelServer() as server:
        server.script = lambda request: Reply(json={"verdict": "correct", ...})
        ... BackendConfig(base_url=server.base_url, model="fake") ...

`script(request)` gets the parsed request body and returns a `Reply`: an answer's content (a dict is sent
as its JSON), an HTTP status, a raw body, a delay. `server.requests` keeps every request body;
`server.peak` the most requests in flight at once.
"""

import contextlib
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    json: dict | None = None  # the answer's content, sent as its JSON text
    content: str | None = None  # or the content as it is
    status: int = 200
    raw: bytes | None = None  # or the whole body, as it is
    delay: float = 0.0
    finish_reason: str = "stop"
    headers: dict | None = None


STEP = re.compile(r"Step under review \(step (\d+)\)")


def step_number(request: dict) -> int:
    """The 1-based number of the step a critique request is about."""
    found = STEP.search(request["messages"][-1]["content"])
    return int(found.group(1)) if found else 0


class FakeModelServer:
    def __init__(self, latency: float = 0.0, max_concurrency: int = 0, port: int = 0):
        self.latency = latency
        # Like a model server's batch size: at most this many requests are served at once, the others
        # wait their turn (0: no limit).
        self.slots = threading.Semaphore(max_concurrency) if max_concurrency else contextlib.nullcontext()
        self.script = lambda request: Reply(json={"verdict": "correct", "confidence": 0.9, "explanation": "Fine.",
                                                  "quote": ""})
        self.requests: list[dict] = []
        self.in_flight = 0
        self.gone = False  # go_away(): every connection is dropped without an answer
        self.peak = 0
        self.busy_seconds = 0.0  # the sum of the time spent serving requests (from a slot taken to its reply)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                if self.path.endswith("/stats"):
                    self._send(200, json.dumps({"requests": len(server.requests), "peak": server.peak,
                                                "busy_seconds": server.busy_seconds}).encode())
                elif self.path.endswith("/health"):
                    self._send(200, b'{"status":"ok"}')
                else:
                    self._send(404, b"{}")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if server.gone:
                    self.close_connection = True
                    return
                with server._lock:
                    server.requests.append(body)
                with server.slots:
                    with server._lock:
                        server.in_flight += 1
                        server.peak = max(server.peak, server.in_flight)
                    began = time.monotonic()
                    try:
                        self._answer(body)
                    finally:
                        with server._lock:
                            server.in_flight -= 1
                            server.busy_seconds += time.monotonic() - began

            def _answer(self, body):
                reply = server.script(body)
                time.sleep(server.latency + reply.delay)
                if server.gone:
                    self.close_connection = True
                    return
                if reply.raw is not None:
                    payload = reply.raw
                else:
                    content = reply.content if reply.content is not None else json.dumps(reply.json)
                    payload = json.dumps({
                        "id": "cmpl-1", "object": "chat.completion", "model": body.get("model"),
                        "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                                     "message": {"role": "assistant", "content": content}}],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 20}}).encode()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                    self._send(reply.status, payload, reply.headers)

            def _send(self, status, payload, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        # `port`: the address of a server that went away, to come back on (the backend's URL stays).
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 1024
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def go_away(self) -> None:
        """The machine goes away: no new connection is accepted, and the open ones (keep-alive) are dropped
        without an answer, the requests in flight included."""
        self.gone = True
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "FakeModelServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> None:
    """`python -m tests.oversight.fake_server --latency 0.2 --concurrency 16`: serve in a process of its own (the
    bench), answering every critique "correct"; prints the base URL, serves until killed."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    server = FakeModelServer(latency=args.latency, max_concurrency=args.concurrency)
    print(server.base_url, flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
