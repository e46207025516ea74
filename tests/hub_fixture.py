"""A stand-in for the Hugging Face hub on loopback: serves folders as model repos through the
endpoints huggingface_hub's snapshot_download and hf_hub_download call, so the real download code
runs against it when HF_ENDPOINT points here. Records every request path."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse


class FixtureHub:
    def __init__(self):
        self.repos: dict[str, tuple[str, Path]] = {}  # repo id -> (commit, folder)
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, repo_id: str, folder: Path) -> str:
        """Serve `folder` as `repo_id`; its commit is a hash of the files, like a git commit id."""
        digest = hashlib.sha1()
        for path in sorted(self.files(folder)):
            digest.update(path.encode() + (folder / path).read_bytes())
        self.repos[repo_id] = (digest.hexdigest(), folder)
        return digest.hexdigest()

    @staticmethod
    def files(folder: Path) -> list[str]:
        return [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]

    def __enter__(self) -> FixtureHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(hub: FixtureHub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_HEAD(self):
            self._serve(body=False)

        def do_GET(self):
            self._serve(body=True)

        def _send(self, status: int, data: bytes, headers: dict, body: bool) -> None:
            self.send_response(status)
            for key, value in {"Content-Length": str(len(data)), **headers}.items():
                self.send_header(key, value)
            self.end_headers()
            if body:
                self.wfile.write(data)

        def _json(self, payload, body: bool) -> None:
            self._send(200, json.dumps(payload).encode(), {"Content-Type": "application/json"}, body)

        def _serve(self, body: bool) -> None:
            path = unquote(urlparse(self.path).path)
            hub.requests.append(path)
            parts = path.strip("/").split("/")
            api = parts[:2] == ["api", "models"]
            repo_id = "/".join(parts[2:4] if api else parts[0:2])
            if repo_id not in hub.repos:
                self._send(404, b"not found", {"X-Error-Code": "RepoNotFound"}, body)
                return
            commit, folder = hub.repos[repo_id]
            files = hub.files(folder)
            if api and parts[4] == "revision":  # repo_info
                self._json({"id": repo_id, "sha": commit, "siblings": [{"rfilename": f} for f in files]}, body)
            elif api and parts[4] == "tree":  # list_repo_tree, recursive
                self._json(
                    [
                        {
                            "type": "file",
                            "path": f,
                            "size": (folder / f).stat().st_size,
                            "oid": hashlib.sha1((folder / f).read_bytes()).hexdigest(),
                        }
                        for f in files
                    ],
                    body,
                )
            elif parts[2] == "resolve" and "/".join(parts[4:]) in files:
                data = (folder / "/".join(parts[4:])).read_bytes()
                self._send(200, data, {"X-Repo-Commit": commit, "ETag": f'"{hashlib.sha1(data).hexdigest()}"'}, body)
            else:
                self._send(404, b"not found", {"X-Error-Code": "EntryNotFound"}, body)

    return Handler
