"""What a tar stream holds, summed up while it passes: how a migration checks that a file system or a volume
arrived whole on the target engine (the engine's export and archive calls all speak tar)."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

CHUNK = 1024 * 1024


@dataclass
class ArchiveSummary:
    """Counts, bytes and one digest of every entry (type, path, link, owner, mode, size, contents); the digest
    does not depend on the order of the entries, which two engines need not write alike."""

    files: int = 0
    directories: int = 0
    links: int = 0
    others: int = 0  # devices, fifos
    bytes: int = 0
    _entries: list[str] = field(default_factory=list, repr=False)

    def add(self, member: tarfile.TarInfo, contents: str = "") -> None:
        if member.isfile():
            self.files += 1
            self.bytes += member.size
        elif member.isdir():
            self.directories += 1
        elif member.issym() or member.islnk():
            self.links += 1
        else:
            self.others += 1
        name = member.name.rstrip("/")
        self._entries.append(f"{member.type!r} {name!r} {member.linkname!r} {member.uid}:{member.gid} "
                             f"{member.mode:o} {member.size} {contents}")

    @property
    def digest(self) -> str:
        return hashlib.sha256("\n".join(sorted(self._entries)).encode()).hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArchiveSummary) and (str(self), self.digest) == (str(other), other.digest)

    def __str__(self) -> str:
        return (f"{self.files} files ({self.bytes} bytes), {self.directories} directories, {self.links} links, "
                f"{self.others} other entries")


class _Recorder(io.RawIOBase):
    """A file over an iterator of chunks that keeps every byte read from it until ``take``."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")
        self._seen = bytearray()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        while not self._pending:
            try:
                self._pending = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._seen += self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def seen(self) -> int:
        return len(self._seen)

    def take(self) -> bytes:
        data = bytes(self._seen)
        self._seen.clear()
        return data


def summarized(chunks: Iterable[bytes], summary: ArchiveSummary) -> Iterator[bytes]:
    """The tar stream ``chunks``, byte for byte, summed up into ``summary`` as it is read."""
    recorder = _Recorder(chunks)
    with tarfile.open(fileobj=recorder, mode="r|", bufsize=CHUNK) as archive:
        for member in archive:
            contents = ""
            if member.isfile():
                digest = hashlib.sha256()
                data = archive.extractfile(member)
                while piece := data.read(CHUNK):
                    digest.update(piece)
                    if recorder.seen() >= CHUNK:
                        yield recorder.take()
                contents = digest.hexdigest()
            summary.add(member, contents)
            if recorder.seen() >= CHUNK:
                yield recorder.take()
    # tarfile stops at the end-of-archive marker: what follows (padding of the last record) is passed on too.
    while recorder.read(CHUNK):
        yield recorder.take()
    if recorder.seen():
        yield recorder.take()


def summarize(chunks: Iterable[bytes]) -> ArchiveSummary:
    summary = ArchiveSummary()
    for _ in summarized(chunks, summary):
        pass
    return summary
