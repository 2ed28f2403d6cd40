"""A fake Docker Engine for tests: just enough of the Engine HTTP API for the docker SDK (docker-py 7.x).

The machines that run the suite have no Docker engine, so code that drives containers through the SDK
is exercised against this fake instead. It answers the endpoints docker-py uses to build an image,
inspect it, run a container, stream its logs, wait for it and remove it, and records every request,
so a test can assert on exactly what the SDK sent (the build context tar, build args and labels, the
create body's HostConfig). Anything else gets a 404 naming the request, so a new SDK call shows up as
a clear failure rather than a hang.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

API_VERSION = "1.45"
_VERSION_PREFIX = re.compile(r"^/v\d+\.\d+(?=/)")


@dataclass
class Recorded:
    """One request as the engine received it."""

    method: str
    path: str  # with the /vX.Y prefix stripped
    query: dict[str, str]  # one value per name; docker-py sends buildargs/labels as JSON strings
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Reply:
    """What to answer: a whole body, or (chunks is not None) a chunked stream, as docker-py's
    streaming helpers insist on Transfer-Encoding: chunked for build output and logs."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    chunks: list[bytes] | None = None


def _json_reply(status: int, document: Any) -> _Reply:
    return _Reply(status, json.dumps(document).encode())


def _not_found(message: str) -> _Reply:
    """docker-py maps a 404 whose message says "No such image" to ImageNotFound, others to NotFound."""
    return _json_reply(404, {"message": message})


class FakeDockerEngine:
    """A fake engine on 127.0.0.1 (context manager: starts on enter, stops on exit).

    exit_code is what every container exits with, log_lines what it prints on stdout, build_error
    (when set) makes every build stream end in that error, and repo_digests is what a built image
    reports under RepoDigests (empty, as for an image never pushed).
    """

    def __init__(self, *, exit_code: int = 0, log_lines: tuple[str, ...] = ("run1 PASSED\n",),
                 build_error: str | None = None, repo_digests: tuple[str, ...] = ()):
        self.exit_code = exit_code
        self.log_lines = tuple(log_lines)
        self.build_error = build_error
        self.repo_digests = list(repo_digests)
        self.url = ""
        self.requests: list[Recorded] = []
        self._images: dict[str, dict] = {}  # tag -> image inspect document
        self._containers: dict[str, dict] = {}  # id -> container inspect document
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeDockerEngine:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.engine = self  # type: ignore[attr-defined]
        # A short poll interval so that leaving the context (server.shutdown) takes milliseconds.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()
        self.url = f"tcp://127.0.0.1:{self._server.server_address[1]}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def last(self, method: str, path: str) -> Recorded:
        """The last METHOD request to PATH (for paths under /containers/, to PATH or below it)."""
        for request in reversed(self.requests):
            if request.method == method and (
                    request.path == path
                    or (path.startswith("/containers/") and request.path.startswith(path))):
                return request
        seen = "\n".join(f"  {r.method} {r.path}" for r in self.requests) or "  (none)"
        raise AssertionError(f"no {method} {path} request; seen:\n{seen}")

    def handle(self, request: Recorded) -> _Reply:
        """Record REQUEST and route it to the endpoint that answers it."""
        with self._lock:
            self.requests.append(request)
            route = (request.method, request.path)
            if route == ("GET", "/_ping"):
                return _Reply(200, b"OK", "text/plain")
            if route == ("GET", "/version"):
                return _json_reply(200, {"ApiVersion": API_VERSION, "MinAPIVersion": "1.24",
                                         "Version": "27.0.0", "Os": "linux", "Arch": "amd64"})
            if route == ("POST", "/build"):
                return self._build(request)
            if route == ("POST", "/containers/create"):
                return self._create(request)
            if match := re.fullmatch(r"/images/(.+)/json", request.path):
                if request.method == "GET":
                    return self._inspect_image(unquote(match[1]))
            elif match := re.fullmatch(r"/containers/([0-9a-f]+)(/\w+)?", request.path):
                return self._container(request.method, match[1], match[2] or "")
            return _not_found(f"fake engine: not implemented: {request.method} {request.path}")

    def _build(self, request: Recorded) -> _Reply:
        tag = request.query.get("t", "")
        dockerfile = request.query.get("dockerfile", "Dockerfile")
        lines: list[dict] = [{"stream": f"Step 1/3 : FROM base ({dockerfile})\n"},
                             {"stream": "Step 2/3 : COPY . /app\n"}]
        if self.build_error is not None:
            lines.append({"error": self.build_error, "errorDetail": {"message": self.build_error}})
        else:
            image_id = "sha256:" + hashlib.sha256(request.body).hexdigest()
            self._images[tag] = {
                "Id": image_id, "RepoTags": [tag], "RepoDigests": list(self.repo_digests),
                "Config": {"Labels": json.loads(request.query.get("labels", "{}"))},
            }
            lines += [{"stream": "Step 3/3 : ENTRYPOINT [\"app\"]\n"}, {"aux": {"ID": image_id}},
                      {"stream": f"Successfully built {image_id[7:19]}\n"},
                      {"stream": f"Successfully tagged {tag}\n"}]
        return _Reply(200, chunks=[json.dumps(line).encode() + b"\n" for line in lines])

    def _inspect_image(self, name: str) -> _Reply:
        for image in self._images.values():
            if name in image["RepoTags"] or name == image["Id"]:
                return _json_reply(200, image)
        return _not_found(f"No such image: {name}")

    def _create(self, request: Recorded) -> _Reply:
        body = request.json()
        container_id = secrets.token_hex(32)
        self._containers[container_id] = {
            "Id": container_id,
            "Name": "/" + request.query.get("name", f"fake_{container_id[:12]}"),
            "Image": body["Image"],
            "Config": {"Tty": body.get("Tty", False), "Image": body["Image"],
                       "Cmd": body.get("Cmd"), "Env": body.get("Env"), "Labels": body.get("Labels")},
            "HostConfig": body.get("HostConfig", {}),
            "State": {"Status": "created", "Running": False, "ExitCode": 0},
        }
        return _json_reply(201, {"Id": container_id, "Warnings": []})

    def _container(self, method: str, container_id: str, action: str) -> _Reply:
        container = self._containers.get(container_id)
        if container is None:
            return _not_found(f"No such container: {container_id}")
        state = container["State"]
        if (method, action) == ("GET", "/json"):
            return _json_reply(200, container)
        if (method, action) == ("POST", "/start"):
            state.update(Status="running", Running=True)
            return _Reply(204)
        if (method, action) == ("GET", "/logs"):
            # Not a TTY, so the output is multiplexed: per frame, stream 1 (stdout), 3 zero bytes,
            # the big-endian payload length, then the payload.
            frames = [struct.pack(">BxxxL", 1, len(data)) + data
                      for data in (line.encode() for line in self.log_lines)]
            return _Reply(200, content_type="application/vnd.docker.multiplexed-stream",
                          chunks=frames)
        if (method, action) == ("POST", "/wait"):
            state.update(Status="exited", Running=False, ExitCode=self.exit_code)
            return _json_reply(200, {"StatusCode": self.exit_code, "Error": None})
        if (method, action) == ("DELETE", ""):
            del self._containers[container_id]
            return _Reply(204)
        return _not_found(f"fake engine: not implemented: {method} /containers/{container_id}{action}")


class _Handler(BaseHTTPRequestHandler):
    """HTTP plumbing: reads the request (Content-Length or chunked body), hands it to the engine and
    writes its reply. Every reply closes the connection, so no handler thread outlives its request
    waiting on an idle keep-alive connection."""

    protocol_version = "HTTP/1.1"  # chunked replies need HTTP/1.1

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; the engine records every request instead."""

    def _serve(self) -> None:
        url = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query, keep_blank_values=True).items()}
        request = Recorded(self.command, _VERSION_PREFIX.sub("", url.path), query, self._read_body())
        reply = self.server.engine.handle(request)  # type: ignore[attr-defined]
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Connection", "close")
        self.close_connection = True
        if reply.chunks is None:
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        else:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in reply.chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b""
        while size := int(self.rfile.readline().split(b";")[0], 16):
            body += self.rfile.read(size)
            self.rfile.readline()  # the CRLF after each chunk
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers, then the blank line
            pass
        return body
