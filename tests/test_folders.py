"""The pix2pix aligned-folder layout (jgan.data.folders)."""
import numpy as np
import pytest
from PIL import Image

from jgan.data.folders import aligned_folder
from jgan.data.sources import DataError



def _write_pair(path, size=(16, 8), a=(200, 30, 60), b=(10, 150, 250), fmt=None):
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :w // 2] = a
    img[:, w // 2:] = b
    Image.fromarray(img).save(path, format=fmt)


@pytest.fixture
def dataset(tmp_path):
    (tmp_path / "train").mkdir()
    for i, shade in enumerate((0, 40, 80)):
        _write_pair(tmp_path / "train" / f"{i}.png", a=(200, 30, shade), b=(10, 150 + shade, 250))
    return tmp_path


def test_halves_land_in_a_and_b(dataset):
    src = aligned_folder(str(dataset), "train", image_size=8, channels=3)
    assert len(src) == 3
    ex = src[1]
    assert ex["a"].shape == ex["b"].shape == (8, 8, 3) and ex["a"].dtype == np.uint8
    assert ex["label"] == 0 and ex["label"].dtype == np.int32
    assert (ex["a"] == (200, 30, 40)).all() and (ex["b"] == (10, 190, 250)).all()
    batch = src.get_batch(np.array([2, 0]))
    assert batch["a"].shape == (2, 8, 8, 3) and batch["label"].tolist() == [0, 0]
    assert (batch["a"][0] == (200, 30, 80)).all() and (batch["b"][1] == (10, 150, 250)).all()


def test_b_to_a_swaps(dataset):
    ex = aligned_folder(str(dataset), "train", image_size=8, channels=3, direction="BtoA")[0]
    assert (ex["a"] == (10, 150, 250)).all() and (ex["b"] == (200, 30, 0)).all()


def test_resize_and_grayscale(tmp_path):
    (tmp_path / "val").mkdir()
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20] = 255                  # A: white; B: left half black, right half white
    img[:, 30:] = 255
    Image.fromarray(img).save(tmp_path / "val" / "x.jpg", quality=100)
    src = aligned_folder(str(tmp_path), "val", image_size=6, channels=1)
    ex = src[0]
    assert ex["a"].shape == (6, 6, 1) and ex["b"].shape == (6, 6, 1)
    assert ex["a"].min() > 245
    b = ex["b"][..., 0].astype(int)
    assert b[:, 0].max() < 10 and b[:, -1].min() > 245 and 10 < b[:, 2:4].mean() < 245
    up = aligned_folder(str(tmp_path), "val", image_size=32, channels=3)[0]
    assert up["a"].shape == (32, 32, 3)


def test_sorted_order_and_extensions(tmp_path):
    (tmp_path / "test").mkdir()
    _write_pair(tmp_path / "test" / "b.png", a=(1, 1, 1))
    _write_pair(tmp_path / "test" / "a.PNG", a=(2, 2, 2))
    (tmp_path / "test" / "notes.txt").write_text("not an image")
    src = aligned_folder(str(tmp_path), "test", image_size=4, channels=3)
    assert len(src) == 2 and src.files == ["a.PNG", "b.png"]


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match=r"no folder .*train.*side by side"):
        aligned_folder(str(tmp_path), "train", image_size=8, channels=3)


def test_empty_folder(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="holds no images"):
        aligned_folder(str(tmp_path), "train", image_size=8, channels=3)


def test_odd_width(dataset):
    _write_pair(dataset / "train" / "odd.png", size=(15, 8))
    with pytest.raises(DataError, match=r"odd\.png is 15 pixels wide"):
        aligned_folder(str(dataset), "train", image_size=8, channels=3)


def test_unreadable_and_truncated_files(dataset, tmp_path):
    (dataset / "train" / "junk.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(DataError, match=r"cannot read image .*junk\.jpg"):
        aligned_folder(str(dataset), "train", image_size=8, channels=3)

    (tmp_path / "t" / "train").mkdir(parents=True)
    cut = tmp_path / "t" / "train" / "cut.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (64, 128, 3), dtype=np.uint8)
    Image.fromarray(noise).save(cut)
    cut.write_bytes(cut.read_bytes()[:len(cut.read_bytes()) // 2])  # valid header, half the pixels
    src = aligned_folder(str(tmp_path / "t"), "train", image_size=8, channels=3)
    with pytest.raises(DataError, match=r"cannot read image .*cut\.jpg"):
        src.get_batch(np.array([0]))


def test_bad_arguments(dataset):
    with pytest.raises(DataError, match="direction"):
        aligned_folder(str(dataset), "train", image_size=8, channels=3, direction="AB")
    with pytest.raises(DataError, match="channels"):
        aligned_folder(str(dataset), "train", image_size=8, channels=2)
