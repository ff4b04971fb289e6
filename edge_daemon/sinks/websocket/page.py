"""The live page's files (edge_daemon/web), read once and served from memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge_daemon.core.package_data import package_dir

WEB_DIR = package_dir("web")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
PAGE_PATHS = ("/", "/live", "/index.html")  # all show the live page


@dataclass(frozen=True)
class StaticFile:
    """One file of the page: its bytes and media type."""

    body: bytes
    content_type: str


def load_page_files(directory: Path = WEB_DIR) -> dict[str, StaticFile]:
    """URL path -> file, for the page's HTML, JavaScript and CSS (nothing else is served)."""
    files = {
        f"/{path.name}": StaticFile(path.read_bytes(), CONTENT_TYPES[path.suffix])
        for path in sorted(directory.iterdir())
        if path.is_file() and path.suffix in CONTENT_TYPES
    }
    index = files.get("/index.html")
    if index is None:
        raise FileNotFoundError(f"the live page is missing: no {directory / 'index.html'}")
    for alias in PAGE_PATHS:
        files[alias] = index
    return files
