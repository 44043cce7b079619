import io
import zlib
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from engine.data import DataError
from engine.dlg.images import MAX_FILE_BYTES, load_attack_images, load_user_image


def _png(path, w=40, h=30, mode="RGB"):
    arr = (np.arange(w * h * len(mode)) % 251).astype(np.uint8).reshape(h, w, len(mode))
    Image.fromarray(arr if len(mode) > 1 else arr[..., 0], mode=mode).save(path)
    return path


def test_png_and_jpeg_load_square_in_unit_range(tmp_path):
    x = load_user_image(_png(tmp_path / "a.png", 40, 30), 32)
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    Image.fromarray(np.full((50, 70, 3), 200, np.uint8)).save(tmp_path / "b.JPG", format="JPEG")
    y = load_user_image(tmp_path / "b.JPG", 16)
    assert y.shape == (3, 16, 16) and abs(float(y.mean()) - 200 / 255) < 0.02


def test_transparent_and_grey_pngs_become_rgb(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)  # fully transparent black -> white background
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "t.png")
    assert torch.allclose(load_user_image(tmp_path / "t.png", 8), torch.ones(3, 8, 8))
    assert load_user_image(_png(tmp_path / "g.png", 9, 9, "L"), 8).shape == (3, 8, 8)


def test_text_file_named_png_is_rejected(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("hello, I am not an image\n")
    with pytest.raises(DataError, match="not a PNG or JPEG image"):
        load_user_image(p, 32)


def test_truncated_png_is_rejected(tmp_path):
    p = _png(tmp_path / "full.png", 64, 64)
    data = p.read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="damaged or truncated"):
        load_user_image(cut, 32)


def test_oversized_image_is_rejected_before_decoding(tmp_path):
    # a valid PNG header claiming 5000 x 10 pixels (the guard reads only the header)
    p = _png(tmp_path / "wide.png", 5000, 10, "L")
    with pytest.raises(DataError, match=r"5000x10 pixels; at most 4096x4096"):
        load_user_image(p, 32)


def _bomb_png(w, h):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = zlib.compress(b"\x00" * (w // 8 + 1) * 64, 9)  # far fewer rows than declared
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def test_decompression_bomb_header_is_rejected(tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(_bomb_png(60000, 60000))
    with pytest.raises(DataError, match="too many pixels|at most 4096x4096"):
        load_user_image(p, 32)


def test_large_file_wrong_extension_and_missing_file(tmp_path):
    big = tmp_path / "big.png"
    with open(big, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(DataError, match="the limit is 10 MB"):
        load_user_image(big, 32)
    gif = tmp_path / "a.gif"
    gif.write_bytes(b"GIF89a")
    with pytest.raises(DataError, match=r"\.png, \.jpg or \.jpeg"):
        load_user_image(gif, 32)
    with pytest.raises(DataError, match="no such image file"):
        load_user_image(tmp_path / "gone.png", 32)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_user_image(empty, 32)


def test_user_file_leads_a_batch_of_photos(tmp_path):
    p = _png(tmp_path / "mine.png")
    batch = load_attack_images(source="photos", batch_size=3, index=0, size=16, num_classes=10, image_file=str(p))
    assert batch.names == ["mine.png", "astronaut", "coffee"]
    assert batch.x.shape == (3, 3, 16, 16)
    assert batch.y.tolist() == [2, 0, 1]  # the file gets the smallest free label
    assert torch.allclose(batch.x[0], load_user_image(p, 16))
