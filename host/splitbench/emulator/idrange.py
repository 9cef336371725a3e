"""Host id ranges of emulated phones: one range per running phone, never shared.

Why distinct ranges: a phone's commands run as Android's ``shell`` user (uid 2000 inside the
device). If two phones mapped that uid to the same host id, one phone's commands could signal
or trace the other's processes wherever they can name them. So device ids 0–2000 of each phone
are host ids ``base`` … ``base + 2000``, where ``base`` is :data:`HOST_ID_BASE` plus a multiple
of :data:`IDS_PER_DEVICE` that no other running phone on this host holds.

How a range is held: by binding an abstract unix socket named after its index. Binding is
atomic among processes (two emulators starting at once cannot both win an index), the kernel
releases the name when the socket is closed or its process dies (a killed emulator leaves no
stale claim), and nothing is written to the file system. Abstract names belong to a network
namespace: every emulator of this host that shares its network shares them.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass, field

#: Host id of device uid/gid 0 of the first phone; no account uses ids this high.
HOST_ID_BASE = 2_000_000_000
#: Host ids set aside per phone (device ids 0–2000 are mapped; the rest is spacing).
IDS_PER_DEVICE = 65_536
#: How many phones can hold ranges at once (the last id must stay below 2**32 - 1).
MAX_RANGES = (2**32 - 2 - HOST_ID_BASE) // IDS_PER_DEVICE

_NAME = "\0splitbench-emulator-ids-{}"


@dataclass
class IdRange:
    """A held range of host ids: ``base`` is the host id of device id 0."""

    index: int
    _claim: socket.socket = field(repr=False)

    @property
    def base(self) -> int:
        return HOST_ID_BASE + self.index * IDS_PER_DEVICE

    def host_id(self, device_id: int) -> int:
        return self.base + device_id

    def release(self) -> None:
        self._claim.close()


def allocate() -> IdRange:
    """The lowest range no running phone holds; OSError when all are held."""
    for index in range(MAX_RANGES):
        claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            claim.bind(_NAME.format(index))
        except OSError as exc:
            claim.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        return IdRange(index, claim)
    raise OSError(errno.EUSERS, f"all {MAX_RANGES} host id ranges of emulated phones are in use")
