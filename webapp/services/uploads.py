"""User files (images to attack, safetensors weights, latency CSVs, parallel
corpora): validated, then stored
under MEDIA_ROOT/uploads/<user id>/ with a random name. Nothing half-written
is ever left: a file is checked in a temporary name and renamed at the end."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile

from ..errors import ApplicationError

__all__ = ["upload_save", "upload_resolve", "upload_read", "UPLOAD_RULES"]

#: kind -> (allowed extensions, size limit setting)
UPLOAD_RULES = {
    "image": ((".png", ".jpg", ".jpeg"), "FRONTIER_MAX_IMAGE_UPLOAD"),
    "safetensors": ((".safetensors",), "FRONTIER_MAX_WEIGHTS_UPLOAD"),
    "npy": ((".npy",), "FRONTIER_MAX_LUT_UPLOAD"),
    "csv": ((".csv",), "FRONTIER_MAX_LUT_UPLOAD"),
    # a parallel text corpus (HAT): an archive of train.<src> / train.<tgt> files or a two-column .tsv
    "corpus": ((".zip", ".tar.gz", ".tgz", ".tsv"), "FRONTIER_MAX_CORPUS_UPLOAD"),
}


def _extension(name: str, exts: tuple[str, ...]) -> str:
    """The allowed extension ``name`` ends with (``.tar.gz`` is one), else its last suffix."""
    low = name.lower()
    return next((e for e in exts if low.endswith(e)), os.path.splitext(low)[1])


def _validate(kind: str, path: Path) -> None:
    if kind == "image":
        from engine.data import DataError
        from engine.dlg.images import load_user_image

        try:
            load_user_image(path, 32)
        except DataError as e:
            raise ApplicationError("Bad image.", field_errors={"file": str(e).split(": ", 1)[-1]}) from None
    elif kind == "npy":
        import numpy as np

        try:
            with open(path, "rb") as fh:  # .npy only: np.load would open an .npz (a zip archive) too
                if fh.read(6) != b"\x93NUMPY":
                    raise ValueError("the file does not start with the .npy magic bytes")
            arr = np.load(path, allow_pickle=False)  # an object array (a pickle inside) is refused here
            if not np.issubdtype(arr.dtype, np.number):
                raise ValueError(f"dtype {arr.dtype} is not numeric")
        except Exception as e:  # noqa: BLE001 - any parse error means it is not a plain NumPy array
            raise ApplicationError("Bad array file.", field_errors={
                "file": f"not a plain numeric .npy array ({str(e)[:200]})"}) from None
    elif kind == "csv":  # plain UTF-8 text with a header row; the technique's config checks the columns
        try:
            head = path.read_bytes()[:4096].decode("utf-8-sig", errors="strict") if path.stat().st_size else ""
        except UnicodeDecodeError as e:
            raise ApplicationError("Bad CSV file.", field_errors={"file": f"not UTF-8 text (byte {e.start})"}) from None
        if "," not in head.split("\n", 1)[0]:
            raise ApplicationError("Bad CSV file.", field_errors={"file": "the first line is not a comma-separated "
                                                                          "header"})
    elif kind == "corpus":  # the engine's own line-by-line checks of a corpus (what training reads)
        from engine.data import DataError
        from engine.data.parallel import load_parallel_upload

        try:
            load_parallel_upload(path)
        except DataError as e:
            raise ApplicationError("Bad corpus.", field_errors={
                "file": str(e).replace(path.name, "the upload")[:500]}) from None
    else:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as fh:
                if not list(fh.keys()):
                    raise ValueError("it holds no tensors")
        except Exception as e:  # any parse error means it is not a safetensors file
            raise ApplicationError("Bad weights file.", field_errors={
                "file": f"not a readable .safetensors file ({str(e)[:200]})"}) from None


def _check_size(size: int | None, limit: int, message: str) -> None:
    """The one size check of every upload (forms, the API and pages leave it to the services)."""
    if size is not None and size > limit:
        raise ApplicationError(message, field_errors={
            "file": f"{size / 2**20:.1f} MB is over the {limit / 2**20:.0f} MB limit"})


def upload_read(data: UploadedFile | bytes | str | dict, *, limit: int, message: str = "File too large."
                ) -> bytes | str | dict:
    """An uploaded JSON document's content, size-checked first: an uploaded
    file is read only when it is within ``limit`` bytes; bytes or text are
    measured; a parsed JSON body (already bounded by Django's request limit)
    passes through."""
    if isinstance(data, UploadedFile):
        _check_size(data.size, limit, message)
        return data.read()
    if isinstance(data, (bytes, str)):
        _check_size(len(data), limit, message)
    return data


def upload_save(*, owner: AbstractBaseUser, uploaded: UploadedFile, kind: str) -> str:
    """Validate and store a user's file; returns its path relative to the uploads folder."""
    if kind not in UPLOAD_RULES:
        raise ApplicationError("Unknown upload kind.", field_errors={"kind": f"one of {', '.join(UPLOAD_RULES)}"})
    exts, limit_name = UPLOAD_RULES[kind]
    limit = getattr(settings, limit_name)
    name = os.path.basename(uploaded.name or "")
    ext = _extension(name, exts)
    if ext not in exts:
        raise ApplicationError("Bad file.", field_errors={"file": f"must be a {', '.join(exts)} file, not {name!r}"})
    if uploaded.size is None or uploaded.size == 0:
        raise ApplicationError("Bad file.", field_errors={"file": "the file is empty"})
    _check_size(uploaded.size, limit, "Bad file.")
    folder = Path(settings.UPLOADS_DIR) / str(owner.pk)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{uuid.uuid4().hex}{ext}"
    tmp = folder / f".incoming-{uuid.uuid4().hex}{ext}"
    try:
        with open(tmp, "wb") as fh:
            for chunk in uploaded.chunks():
                fh.write(chunk)
        _validate(kind, tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return f"{owner.pk}/{final.name}"


def upload_resolve(*, owner: AbstractBaseUser, relative: str) -> Path | None:
    """The absolute path of ``relative`` when it is one of ``owner``'s uploads
    (staff may use anyone's), else None."""
    root = os.path.realpath(settings.UPLOADS_DIR)
    real = os.path.realpath(os.path.join(root, relative))
    if not real.startswith(root + os.sep) or not os.path.isfile(real):
        return None
    first = os.path.relpath(real, root).split(os.sep, 1)[0]
    if first != str(owner.pk) and not owner.is_staff:
        return None
    return Path(real)
