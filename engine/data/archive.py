"""One reader for the archives users upload (``.zip``, ``.tar.gz`` / ``.tgz``).

Every member is checked from its header before any member's data is read:
absolute, Windows or '..' names (zip-slip), links, devices and other files
that are not regular, encrypted zip members, too many members, a member
declaring more bytes than one may hold, all members together declaring more
than the total, and bombs -- a member declaring over ``max_ratio`` times its
compressed size (for a .tar.gz, the whole file's size, since one gzip stream
holds every member) or all members over ``max_ratio`` times the archive's
size. Nothing is extracted to disk. A member is read only when its
:meth:`ArchiveMember.read` is called, in chunks of :data:`CHUNK` bytes, and
reading stops with an error as soon as more bytes come than it declared.
For a .tar.gz, headers that tarfile reads for itself (pax and GNU long-name
records) are bounded too: one read over :data:`MAX_HEADER_BYTES`, or a
stream decompressing past what the members declared, is refused. Errors are
:class:`DataError` naming the archive and the member.

    with open_archive("corpus.tar.gz", limits=ArchiveLimits(max_total_bytes=2**28)) as arch:
        for m in arch.members:       # checked already; nothing decompressed yet
            text = m.read()          # bounded, lazy
"""
from __future__ import annotations

import gzip
import re
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterator

from .errors import DataError

__all__ = ["ArchiveLimits", "ArchiveMember", "Archive", "open_archive", "archive_format", "member_path",
           "ARCHIVE_SUFFIXES", "CHUNK", "MAX_HEADER_BYTES"]

#: file name endings this reader opens, and the format each names
ARCHIVE_SUFFIXES = {".zip": "zip", ".tar.gz": "tar.gz", ".tgz": "tar.gz"}
#: a member is read this many bytes at a time
CHUNK = 1 << 16
#: the most bytes tarfile may read at once for a header of its own (pax, GNU long names)
MAX_HEADER_BYTES = 1 << 20
_TAR_REGULAR = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)
#: what a damaged archive raises from zipfile, tarfile, gzip and zlib
_DAMAGED = (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, zlib.error, RuntimeError,
            NotImplementedError, RecursionError, ValueError)


@dataclass(frozen=True)
class ArchiveLimits:
    """What an archive may hold; a caller passes its own bounds."""

    max_members: int = 1000
    max_member_bytes: int = 256 * 2**20
    max_total_bytes: int = 256 * 2**20
    #: declared bytes over this many times the compressed bytes are a bomb ...
    max_ratio: int = 100
    #: ... once over this many bytes (a small text file may compress far better)
    ratio_floor: int = 2**20


def archive_format(name: str) -> str | None:
    """``"zip"`` or ``"tar.gz"`` from a file name's ending, else None."""
    low = name.lower()
    return next((f for s, f in ARCHIVE_SUFFIXES.items() if low.endswith(s)), None)


def _quote(name: str) -> str:
    return repr(name[:120])


def member_path(name: str, archive: str) -> PurePosixPath:
    """A member's path, refused when it is absolute, a Windows path or climbs out ('..')."""
    if "\x00" in name or "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise DataError(f"{archive}: member {_quote(name)} has an absolute or Windows path; refused")
    p = PurePosixPath(name)
    if ".." in p.parts:
        raise DataError(f"{archive}: member {_quote(name)} climbs out of the archive ('..'); refused")
    return p


@dataclass(frozen=True)
class ArchiveMember:
    """A regular file in an archive, checked from its header; :meth:`read` reads it."""

    archive: str
    name: str
    path: PurePosixPath
    #: bytes it declares once decompressed
    size: int
    #: its compressed bytes (for a .tar.gz, the whole file's)
    compressed: int
    _open: Callable[[], IO[bytes]] = field(repr=False, compare=False)

    def chunks(self) -> Iterator[bytes]:
        """Its bytes, :data:`CHUNK` at a time; more or fewer than declared is an error."""
        got = 0
        try:
            with self._open() as fh:
                while chunk := fh.read(min(CHUNK, self.size - got + 1)):
                    got += len(chunk)
                    if got > self.size:
                        raise DataError(f"{self.archive}: member {_quote(self.name)} holds more than the "
                                        f"{self.size:,} bytes it declares; refused")
                    yield chunk
        except DataError:
            raise
        except _DAMAGED as e:
            raise DataError(f"{self.archive}: member {_quote(self.name)} cannot be read ({str(e)[:120]})") from None
        if got < self.size:
            raise DataError(f"{self.archive}: member {_quote(self.name)} holds {got:,} of the {self.size:,} bytes "
                            "it declares (damaged)")

    def read(self) -> bytes:
        """All its bytes (at most the declared size, which the limits bound)."""
        return b"".join(self.chunks())


class _Tally:
    """The size checks every member passes, in header order, for either format."""

    def __init__(self, archive: str, limits: ArchiveLimits, file_size: int, *, one_stream: bool) -> None:
        self.archive, self.limits, self.file_size, self.one_stream = archive, limits, file_size, one_stream
        self.count = 0
        self.total = 0

    def entry(self) -> None:
        self.count += 1
        if self.count > self.limits.max_members:
            raise DataError(f"{self.archive}: over {self.limits.max_members:,} members; refused")

    def file(self, name: str, size: int, compressed: int) -> None:
        lim, arch = self.limits, self.archive
        if size > lim.ratio_floor and size > lim.max_ratio * max(compressed, 1):
            raise DataError(f"{arch}: member {_quote(name)} declares {size:,} bytes in a {compressed:,}-byte "
                            "archive (a decompression bomb?); refused" if self.one_stream else
                            f"{arch}: member {_quote(name)} decompresses {size:,} bytes from {compressed:,} "
                            "(a zip bomb?); refused")
        if size > lim.max_member_bytes:
            raise DataError(f"{arch}: member {_quote(name)} declares {size:,} bytes; at most "
                            f"{lim.max_member_bytes // 2**20:,} MiB a member; refused")
        self.total += size
        if self.total > lim.max_total_bytes:
            raise DataError(f"{arch}: the members decompress to over {lim.max_total_bytes // 2**20:,} MiB; refused")
        if self.total > lim.ratio_floor and self.total > lim.max_ratio * max(self.file_size, 1):
            raise DataError(f"{arch}: the members up to {_quote(name)} declare {self.total:,} bytes in a "
                            f"{self.file_size:,}-byte archive (a {'decompression' if self.one_stream else 'zip'} "
                            "bomb?); refused")


class _BoundedStream:
    """The decompressed stream a TarFile reads: one read over
    :data:`MAX_HEADER_BYTES`, or a position past ``limit``, is refused before
    it happens (tarfile reads pax and GNU long-name headers whole, before any
    member is seen)."""

    def __init__(self, raw: gzip.GzipFile, limit: int, archive: str) -> None:
        self.raw, self.limit, self.archive = raw, limit, archive

    def _refuse(self, pos: int) -> None:
        if pos > self.limit:
            raise DataError(f"{self.archive}: the tar stream runs past the {self.limit:,} bytes its members and "
                            "headers may take (a decompression bomb?); refused")

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            raise DataError(f"{self.archive}: an unbounded read of the tar stream; refused")
        if n > MAX_HEADER_BYTES:
            raise DataError(f"{self.archive}: a tar header (pax or GNU long name) of {n:,} bytes; at most "
                            f"{MAX_HEADER_BYTES:,}; refused")
        self._refuse(self.raw.tell() + n)
        return self.raw.read(n)

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence != 0:
            raise DataError(f"{self.archive}: a relative seek in the tar stream; refused")
        self._refuse(pos)
        return self.raw.seek(pos)

    def tell(self) -> int:
        return self.raw.tell()

    def close(self) -> None:
        self.raw.close()


class Archive:
    """An opened archive whose members passed every check; close it (or use ``with``)."""

    def __init__(self, members: list[ArchiveMember], closing: list[Callable[[], None]]) -> None:
        self.members = members
        self._closing = closing

    def close(self) -> None:
        for close in reversed(self._closing):
            close()
        self._closing = []

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_zip(path: Path, arch: str, limits: ArchiveLimits, file_size: int) -> Archive:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise DataError(f"{arch}: not a readable .zip archive ({str(e)[:120]})") from None
    try:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise DataError(f"{arch}: {len(infos):,} members; at most {limits.max_members:,}")
        tally = _Tally(arch, limits, file_size, one_stream=False)
        members = []
        for info in infos:
            name = info.filename
            p = member_path(name, arch)
            mode = (info.external_attr >> 16) & 0o170000
            if mode == 0o120000:
                raise DataError(f"{arch}: member {_quote(name)} is a symbolic link; refused")
            if info.is_dir():
                continue
            if mode not in (0, 0o100000):
                raise DataError(f"{arch}: member {_quote(name)} is not a regular file; refused")
            if info.flag_bits & 0x1:
                raise DataError(f"{arch}: member {_quote(name)} is encrypted; refused")
            tally.file(name, info.file_size, info.compress_size)
            # zipfile itself stops at the declared size and checks the CRC
            members.append(ArchiveMember(arch, name, p, info.file_size, info.compress_size,
                                         lambda info=info: zf.open(info)))
    except BaseException:
        zf.close()
        raise
    return Archive(members, [zf.close])


def _open_tar_gz(path: Path, arch: str, limits: ArchiveLimits, file_size: int) -> Archive:
    # what the members may declare, and their headers (a block, a long-name record, padding: under 4 KiB each)
    limit = min(limits.max_total_bytes, max(limits.ratio_floor, limits.max_ratio * file_size)) \
        + (limits.max_members + 2) * 4096
    try:
        raw = open(path, "rb")
    except OSError as e:
        raise DataError(f"{arch}: cannot be read ({e.strerror})") from None
    stream = _BoundedStream(gzip.GzipFile(fileobj=raw, mode="rb"), limit, arch)
    try:
        try:
            tf = tarfile.TarFile(fileobj=stream, mode="r")  # type: ignore[arg-type]  # reads the first header
        except DataError:
            raise
        except _DAMAGED as e:
            raise DataError(f"{arch}: not a readable .tar.gz archive ({str(e)[:120]})") from None
        tally = _Tally(arch, limits, file_size, one_stream=True)
        members = []
        try:
            for m in tf:  # one header at a time: each is checked before the stream moves past its data
                tally.entry()
                name = m.name
                p = member_path(name, arch)
                if m.issym() or m.islnk():
                    raise DataError(f"{arch}: member {_quote(name)} is a link; refused")
                if m.isdir():
                    continue
                if m.type not in _TAR_REGULAR or m.issparse():
                    raise DataError(f"{arch}: member {_quote(name)} is not a regular file; refused")
                tally.file(name, m.size, file_size)
                members.append(ArchiveMember(arch, name, p, m.size, file_size,
                                             lambda m=m: tf.extractfile(m)))  # type: ignore[arg-type,return-value]
        except DataError:
            raise
        except _DAMAGED as e:
            raise DataError(f"{arch}: damaged .tar.gz archive ({str(e)[:120]})") from None
    except BaseException:
        stream.close()
        raw.close()
        raise
    return Archive(members, [raw.close, stream.close])


def open_archive(path: str | Path, *, limits: ArchiveLimits = ArchiveLimits(), name: str | None = None) -> Archive:
    """The regular-file members of a .zip / .tar.gz / .tgz (directories left
    out), every one checked (see the module's docstring) before any is read.
    ``name`` is what errors call the archive (default: the file's name)."""
    path = Path(path)
    arch = name or path.name
    fmt = archive_format(path.name)
    if fmt is None:
        raise DataError(f"{arch}: an archive is a .zip, .tar.gz or .tgz")
    try:
        file_size = path.stat().st_size
    except OSError as e:
        raise DataError(f"{arch}: cannot be read ({e.strerror})") from None
    return (_open_zip if fmt == "zip" else _open_tar_gz)(path, arch, limits, file_size)
