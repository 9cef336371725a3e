"""What the kit uploads to a phone, named by content hash so nothing is pushed twice.

Parts go to ``parts/<sha256[:16]>.tflite``, the runner and binaries to
``<folder>/<sha16>-<name>``; a file of that name and size already on the phone is reused.
Every byte sent is counted (``bytes_pushed``), so a sweep can say what it cost the link.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from splitbench.errors import SplitbenchError
from splitbench.targets.adb.devicedir import DeviceDir
from splitbench.targets.adb.phone import Phone
from splitbench.targets.binaries import file_sha256


class UploadCache:
    """Content-addressed uploads into the kit's device directory on one phone."""

    def __init__(self, phone: Phone, dirs: DeviceDir) -> None:
        self.phone = phone
        self.dirs = dirs
        self.bytes_pushed = 0

    def push(self, data: bytes | Path, remote: str, mode: int = 0o644) -> int:
        """Upload ``data`` to ``remote`` (inside the device directory) unconditionally."""
        sent = self.phone.push(data, self.dirs.check(remote), mode)
        self.bytes_pushed += sent
        return sent

    def push_named(
        self, data: bytes | Path, folder: str, name: str, mode: int, sha: str | None = None
    ) -> str:
        """Upload under ``<folder>/<sha16>-<name>`` unless a file of that name and size is
        already there: content-addressed, so nothing is pushed twice."""
        if sha is None:
            sha = hashlib.sha256(data if isinstance(data, bytes) else data.read_bytes()).hexdigest()
        size = len(data) if isinstance(data, bytes) else data.stat().st_size
        remote = self.dirs.path(folder, f"{sha[:16]}-{name}")
        found = self.phone.stat(remote)
        if found is None or found[1] != size:
            self.push(data, remote, mode)
        return remote

    def stage_part(self, part: Path) -> tuple[str, str, int]:
        """Put a model file on the phone as ``parts/<sha256[:16]>.tflite``; returns (sha256,
        remote path, bytes sent) — 0 bytes when a file of that name and size is there."""
        if not part.is_file():
            raise SplitbenchError(f"part file {part} does not exist")
        sha = file_sha256(part)
        remote = self.dirs.path("parts", f"{sha[:16]}.tflite")
        found = self.phone.stat(remote)
        sent = 0
        if found is None or found[1] != part.stat().st_size:
            sent = self.push(part, remote)
        return sha, remote, sent
