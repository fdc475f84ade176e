"""Local stand-ins for the internet in the data-preparation tests: zips of the fixture data served over HTTP on
127.0.0.1 (with Range support, and a switch that drops the connection mid-body), and manifests whose counts are
the fixture's, so the fixture data is the "full" split."""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from harness.data.manifest import manifest_path

FIXTURE_COUNTS = {
    "vqav2": {"val2014": {"questions": 36, "images": 12, "answers": 360, "answers_per_question": [10]},
              "test-dev2015": {"questions": 107394, "images": 36807}},
    "flickr30k": {"test": {"images": 12, "captions": 60, "captions_per_image": [5]},
                  "val": {"images": 1014, "captions_per_image": [5]}},
}


def write_fixture_manifests(conf_dir: Path, url: str, pins: dict[str, str] | None = None) -> None:
    """Copies of the committed manifests with the fixture's counts and downloads at `url` (no checksums pinned,
    except `pins`: role -> sha256)."""
    for task, splits in FIXTURE_COUNTS.items():
        doc = yaml.safe_load(manifest_path(task).read_text())
        doc["splits"] = splits
        for item in doc["official"]:
            item["url"] = f"{url}/{item['name']}"
        for role, sha in (pins or {}).items():
            if role in doc["files"]:
                doc["files"][role]["sha256"] = sha
        out = conf_dir / "manifest" / f"{task}.yaml"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(doc, sort_keys=False))


def zip_fixture_archives(data: Path, out: Path) -> None:
    """The official archives, rebuilt from fixture files (COCO's zip nests its images in val2014/, as the real one)."""
    out.mkdir(parents=True, exist_ok=True)
    members = {
        "v2_Questions_Val_mscoco.zip": [(data / "vqav2/v2_OpenEnded_mscoco_val2014_questions.json", "")],
        "v2_Annotations_Val_mscoco.zip": [(data / "vqav2/v2_mscoco_val2014_annotations.json", "")],
        "val2014.zip": [(p, "val2014/") for p in sorted((data / "coco/images/val2014").iterdir())],
        "caption_datasets.zip": [(data / "flickr30k/karpathy/dataset_flickr30k.json", "")],
    }
    for name, files in members.items():
        with zipfile.ZipFile(out / name, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, prefix in files:
                archive.write(path, prefix + path.name)


class Server:
    """Serves a folder; records each request's path and Range header; `cut_after` truncates the next response."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.requests: list[tuple[str, str | None]] = []
        self.cut_after: int | None = None
        self.ranges = True

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests.append((self.path, self.headers.get("Range")))
                path = server.folder / self.path.lstrip("/")
                if not path.is_file():
                    self.send_error(404)
                    return
                body = path.read_bytes()
                start = 0
                rng = self.headers.get("Range")
                if rng and server.ranges:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                if server.cut_after is not None:
                    payload, server.cut_after = payload[: server.cut_after], None
                    self.wfile.write(payload)
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        return Handler


@contextmanager
def serve(folder: Path) -> Iterator[tuple[Server, str]]:
    server = Server(folder)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), server.handler())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
