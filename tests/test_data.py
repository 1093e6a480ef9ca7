"""Data sources and the grain pipeline."""
import numpy as np
import pytest
import tensorflow_datasets as tfds

from jgan.config import base_config
from jgan.data import pipeline, sources


def test_mnist_subset_is_the_real_digits():
    images, labels = sources.load_mnist_subset()
    assert images.shape == (5000, 28, 28, 1) and images.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(10))
    # Real MNIST: mostly black background, ~19% of pixels lit, mean intensity ~33/255.
    assert 25 < images.mean() < 40
    assert 0.12 < (images > 127).mean() < 0.25
    assert images[:, 0, :, :].max() < 50  # digits are centred: the top row is (almost) empty


def test_mnist_subset_splits_are_disjoint_and_complete():
    train = sources.mnist_subset_split("train", 500)
    test = sources.mnist_subset_split("test", 500)
    assert len(train) == 4500 and len(test) == 500
    # Stratified (the file is sorted by label): 450 / 50 of each digit.
    np.testing.assert_array_equal(np.bincount(train.labels), [450] * 10)
    np.testing.assert_array_equal(np.bincount(test.labels), [50] * 10)
    # Together they are the whole file, each digit once.
    images, _ = sources.load_mnist_subset()
    together = np.concatenate([train.x, test.x]).reshape(5000, -1)
    assert len(np.unique(together, axis=0)) == len(np.unique(images.reshape(5000, -1), axis=0))


@pytest.mark.parametrize("name,n_modes,std", [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_toy_mixture_moments(name, n_modes, std):
    src = sources.toy_mixture(name, 50_000, seed=0)
    modes = sources.TOY_MIXTURES[name][0]()
    assert modes.shape == (n_modes, 2)
    # Both mixtures are symmetric about the origin: mean ~ 0.
    np.testing.assert_allclose(src.x.mean(axis=0), 0.0, atol=0.05)
    # Per-mode spread equals the mixture std; modes are used uniformly.
    resid = src.x - modes[src.labels]
    np.testing.assert_allclose(resid.std(axis=0), std, rtol=0.03)
    counts = np.bincount(src.labels, minlength=n_modes)
    assert counts.min() > 0.8 * 50_000 / n_modes
    # Total variance = spread of the modes + the noise variance.
    np.testing.assert_allclose(src.x.var(axis=0), modes.var(axis=0) + std ** 2, rtol=0.05)


def test_ring8_modes_on_unit_circle_and_grid25_values():
    np.testing.assert_allclose(np.linalg.norm(sources.ring8_modes(), axis=1), 1.0, rtol=1e-6)
    assert set(np.unique(sources.grid25_modes())) == {-4.0, -2.0, 0.0, 2.0, 4.0}


def test_pipeline_range_shapes_and_epochs():
    src = sources.ArraySource(np.arange(40, dtype=np.uint8).reshape(40, 1, 1, 1), np.arange(40, dtype=np.int32))
    ds = pipeline.make_dataset(src, seed=3, global_batch_size=8)
    batches = [ds[i] for i in range(10)]  # two epochs of 5 batches
    for b in batches:
        assert b["x"].shape == (8, 1, 1, 1) and b["x"].dtype == np.float32
        np.testing.assert_allclose(b["x"].ravel(), b["label"] / 127.5 - 1.0, rtol=1e-6)
    epoch1 = np.concatenate([b["label"] for b in batches[:5]])
    epoch2 = np.concatenate([b["label"] for b in batches[5:]])
    assert sorted(epoch1) == list(range(40)) and sorted(epoch2) == list(range(40))
    assert not np.array_equal(epoch1, epoch2)  # reshuffled every epoch


def test_pipeline_seed_determinism():
    src = sources.mnist_subset_split("train", 500)
    a = pipeline.make_dataset(src, seed=0, global_batch_size=16)
    b = pipeline.make_dataset(src, seed=0, global_batch_size=16)
    c = pipeline.make_dataset(src, seed=1, global_batch_size=16)
    np.testing.assert_array_equal(a[7]["x"], b[7]["x"])
    assert not np.array_equal(a[7]["label"], c[7]["label"])


def test_process_shards_tile_the_global_batch():
    src = sources.mnist_subset_split("train", 500)
    whole = pipeline.make_dataset(src, seed=0, global_batch_size=12)
    parts = [pipeline.make_dataset(src, seed=0, global_batch_size=12, process_index=p, process_count=3)
             for p in range(3)]
    for g in range(4):
        np.testing.assert_array_equal(np.concatenate([p[g]["label"] for p in parts]), whole[g]["label"])
    with pytest.raises(sources.DataError, match="batch_size"):
        pipeline.make_dataset(src, seed=0, global_batch_size=10, process_count=3)


def test_iterator_state_resumes_the_stream():
    src = sources.mnist_subset_split("train", 500)
    ds = pipeline.make_dataset(src, seed=0, global_batch_size=16)
    it = iter(ds.to_iter_dataset())
    for _ in range(5):
        next(it)
    state = it.get_state()
    expected = [next(it)["label"] for _ in range(3)]
    it2 = iter(ds.to_iter_dataset())
    it2.set_state(state)
    for e in expected:
        np.testing.assert_array_equal(next(it2)["label"], e)


def test_resize_and_channels():
    img = np.zeros((30, 20, 1), np.uint8)
    img[5:25, :, 0] = 255
    out = pipeline.preprocess_image(img, image_size=10, channels=3)
    assert out.shape == (10, 10, 3) and out.dtype == np.uint8
    assert out.min() == out.max() == 255  # the centre crop is the bright band


def test_tfds_source_on_mock_data():
    cfg = base_config().data
    cfg.source, cfg.name, cfg.image_size, cfg.channels = "tfds", "celeb_a", 64, 3
    with tfds.testing.mock_data(num_examples=12):
        src = sources.make_source(cfg, seed=0)
        ds = pipeline.make_dataset(src, seed=0, global_batch_size=4, image_size=64, channels=3)
        batch = ds[0]
    assert batch["x"].shape == (4, 64, 64, 3)
    assert -1.0 <= batch["x"].min() and batch["x"].max() <= 1.0


def test_unprepared_tfds_dataset_is_a_clear_error(tmp_path):
    cfg = base_config().data
    cfg.source, cfg.name, cfg.data_dir = "tfds", "cifar10", str(tmp_path)
    with pytest.raises(sources.DataError, match="not prepared.*tfds build cifar10"):
        sources.make_source(cfg, seed=0)
