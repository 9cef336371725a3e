"""What of this host the emulated phone sees: a short, read-only list, derived from what runs.

Why a list and not "everything": the emulated phone is reachable by any local user (adb has no
authentication), so what its shell can see and touch is what any local user can. A phone's
shell sees the phone, not the computer it is plugged into. The device therefore gets only:

- the system directories its shell and tools need (``/usr`` and the ``/bin``, ``/sbin``,
  ``/lib*`` it is reached through — symlinks where the host merged them into ``/usr``);
- a few entries of ``/etc`` that the dynamic loader and the tools read (``ld.so.cache``,
  ``alternatives``, ``localtime``, ...), plus the device's own ``passwd``/``group`` naming
  ``root`` and ``shell`` (2000) as on Android;
- the Python that runs the kit's device-side runners, found from this interpreter rather than
  from fixed locations: its prefixes (a venv and the interpreter it was made from, wherever they
  live, e.g. under ``/root/.pyenv``), every existing ``sys.path`` entry (``PYTHONPATH`` source
  roots, site-packages), and the package folders of editable installs. Whatever runner a format
  adds (LiteRT, ExecuTorch, ONNX Runtime) imports from these, so nothing here names a package.

Each of these is bound read-only at its own path; a path reached through a symlinked directory
gets the same symlink in the device. Not visible: ``/tmp``, ``/root`` and home directories
(beyond an interpreter that lives there), the repository (beyond source roots on ``sys.path``),
run directories, ``/var``, ``/run``, ``/opt``, ``/mnt``, ``/srv``, the host's ``/dev`` (the
device gets ``null``, ``zero``, ``full``, ``random``, ``urandom`` only).
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass

#: Top-level system directories the shell and the tools run from.
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
#: Entries of the host's /etc the dynamic loader and the tools read.
ETC_ENTRIES = (
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "mtab",
)
#: Device nodes bound from the host's /dev.
DEV_NODES = ("null", "zero", "full", "random", "urandom")
#: Top-level names that are the device's own: a host path under one of them is never bound.
DEVICE_OWN = ("data", "system", "sys", "proc", "dev", "etc", "sdcard", "storage")


@dataclass(frozen=True)
class HostView:
    """Host paths the device sees, each at its own path: symlinks and read-only binds."""

    symlinks: tuple[tuple[str, str], ...]  # (path, link target as on the host)
    binds: tuple[str, ...]  # real paths (directories or files), bound read-only


def python_paths() -> list[str]:
    """Where this interpreter and its packages live: prefixes, ``sys.path``, editable installs.

    The current directory that ``python -m``/``-c`` put first on ``sys.path`` is left out: it is
    where the user stands (often the repository), not where packages live.
    """
    cwd = os.getcwd()
    found = [
        sys.prefix,
        sys.exec_prefix,
        sys.base_prefix,
        sys.base_exec_prefix,
        os.path.dirname(sys.executable),
        os.path.dirname(os.path.realpath(sys.executable)),
    ]
    found += [p for p in sys.path if p and os.path.abspath(p) != cwd]
    for name, module in list(sys.modules.items()):
        # setuptools' editable installs map package names to source folders in such a module
        if name.startswith("__editable__") and name.endswith("_finder"):
            found += [str(p) for p in getattr(module, "MAPPING", {}).values()]
            for paths in getattr(module, "NAMESPACES", {}).values():
                found += [str(p) for p in paths]
    return found


def host_view(extra: Iterable[str] = ()) -> HostView:
    """The view for this host and this interpreter (plus ``extra`` host paths)."""
    symlinks: dict[str, str] = {}
    binds: list[str] = []
    for name in SYSTEM_DIRS:
        path = "/" + name
        if os.path.islink(path):
            symlinks[path] = os.readlink(path)
        elif os.path.isdir(path):
            binds.append(path)
    for path in [*python_paths(), *extra]:
        path = os.path.abspath(path)
        if not os.path.exists(path):
            continue
        real = os.path.realpath(path)
        if _is_device_own(real) or real == "/":
            continue
        symlinks.update(_symlinked_parents(path))
        binds.append(real)
    return HostView(tuple(sorted(symlinks.items())), _outermost(binds))


def _is_device_own(path: str) -> bool:
    top = path.strip("/").split("/", 1)[0]
    return top in DEVICE_OWN


def _symlinked_parents(path: str, depth: int = 0) -> dict[str, str]:
    """Every symlink met on the way to ``path`` (the device needs them to reach it)."""
    links: dict[str, str] = {}
    if depth > 8:
        return links
    current = "/"
    for part in [p for p in path.split("/") if p]:
        candidate = os.path.join(current, part)
        if os.path.islink(candidate):
            target = os.readlink(candidate)
            if not _is_device_own(candidate):
                links[candidate] = target
            # the link's target may itself be reached through symlinks
            resolved = os.path.normpath(os.path.join(os.path.dirname(candidate), target))
            links.update(_symlinked_parents(resolved, depth + 1))
            candidate = os.path.realpath(candidate)
        current = candidate
    return links


def _outermost(paths: list[str]) -> tuple[str, ...]:
    """Paths without those already inside another one on the same file system."""
    kept: list[str] = []
    for path in sorted(set(paths), key=lambda p: (p.count("/"), p)):
        covered = any(path.startswith(k.rstrip("/") + "/") and _same_fs(path, k) for k in kept)
        if not covered:
            kept.append(path)
    return tuple(sorted(kept, key=lambda p: (p.count("/"), p)))


def _same_fs(a: str, b: str) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False


def mount_script(view: HostView, root: str, etc_dir: str) -> str:
    """Shell lines that build ``view`` under ``root`` (run as the namespace's root).

    ``etc_dir`` holds the device's own ``passwd`` and ``group``.
    """
    q = shlex.quote
    lines = []
    for path in view.binds:
        lines.extend(_bind_ro(path, root + path))
    for path, target in view.symlinks:
        link = q(root + path)
        if os.path.dirname(path) != "/":
            lines.append(f"mkdir -p {q(root + os.path.dirname(path))}")
        lines.append(f"[ -e {link} ] || [ -L {link} ] || ln -s {q(target)} {link}")
    lines.append(f"mkdir -p {q(root + '/etc')}")
    for name in ETC_ENTRIES:
        host = "/etc/" + name
        if os.path.islink(host):
            lines.append(f"ln -s {q(os.readlink(host))} {q(root + host)}")
        elif os.path.exists(host):
            lines.extend(_bind_ro(host, root + host))
    for name in ("passwd", "group"):
        lines.extend(_bind_ro(f"{etc_dir}/{name}", f"{root}/etc/{name}"))
    dev = root + "/dev"
    lines.append(f"mkdir -p {q(dev)}")
    lines.append(f"mount -t tmpfs -o mode=755,size=64k sbdev {q(dev)}")
    for name in DEV_NODES:
        if os.path.exists("/dev/" + name):
            lines.append(f": > {q(dev + '/' + name)}")
            lines.append(f"mount --bind /dev/{name} {q(dev + '/' + name)}")
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        lines.append(f"ln -s {target} {q(dev + '/' + name)}")
    lines.append(f"mount -o remount,ro {q(dev)}")
    return "\n".join(lines) + "\n"


def _bind_ro(source: str, target: str) -> list[str]:
    q = shlex.quote
    if os.path.isdir(source):
        make = f"mkdir -p {q(target)}"
    else:
        parent = q(os.path.dirname(target))
        make = f"mkdir -p {parent} && {{ [ -e {q(target)} ] || : > {q(target)}; }}"
    return [make, f"mount --bind -o ro {q(source)} {q(target)}"]
