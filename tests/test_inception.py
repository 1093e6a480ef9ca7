"""FID Inception port: architecture, preprocessing, torch-free weight loading.

Nothing here needs torch or the real weights file.  The fixtures in
tests/data/ were written by torch itself (tests/data/make_torch_fixtures.py).
"""

import collections
import io
import os
import pickle
import sys
import types
import zipfile

import jax
import numpy as np
import pytest

from jgan.eval import inception as inc
from jgan.eval import torch_pickle

DATA = os.path.join(os.path.dirname(__file__), "data")


# ----------------------------------------------------------------------------
# The reference architecture, written out from torchvision's Inception3
# __init__ (BasicConv2d = conv(bias=False) + BatchNorm2d(eps=0.001)) and
# pytorch-fid's fid_inception_v3 (no AuxLogits, fc 2048 -> 1008).
# Each entry: (torch module path, in_channels, out_channels, kh, kw).
# ----------------------------------------------------------------------------


def _block_a(p, cin, pool_features):
    return [
        (f"{p}.branch1x1", cin, 64, 1, 1),
        (f"{p}.branch5x5_1", cin, 48, 1, 1),
        (f"{p}.branch5x5_2", 48, 64, 5, 5),
        (f"{p}.branch3x3dbl_1", cin, 64, 1, 1),
        (f"{p}.branch3x3dbl_2", 64, 96, 3, 3),
        (f"{p}.branch3x3dbl_3", 96, 96, 3, 3),
        (f"{p}.branch_pool", cin, pool_features, 1, 1),
    ]


def _block_b(p, cin):
    return [
        (f"{p}.branch3x3", cin, 384, 3, 3),
        (f"{p}.branch3x3dbl_1", cin, 64, 1, 1),
        (f"{p}.branch3x3dbl_2", 64, 96, 3, 3),
        (f"{p}.branch3x3dbl_3", 96, 96, 3, 3),
    ]


def _block_c(p, cin, c7):
    return [
        (f"{p}.branch1x1", cin, 192, 1, 1),
        (f"{p}.branch7x7_1", cin, c7, 1, 1),
        (f"{p}.branch7x7_2", c7, c7, 1, 7),
        (f"{p}.branch7x7_3", c7, 192, 7, 1),
        (f"{p}.branch7x7dbl_1", cin, c7, 1, 1),
        (f"{p}.branch7x7dbl_2", c7, c7, 7, 1),
        (f"{p}.branch7x7dbl_3", c7, c7, 1, 7),
        (f"{p}.branch7x7dbl_4", c7, c7, 7, 1),
        (f"{p}.branch7x7dbl_5", c7, 192, 1, 7),
        (f"{p}.branch_pool", cin, 192, 1, 1),
    ]


def _block_d(p, cin):
    return [
        (f"{p}.branch3x3_1", cin, 192, 1, 1),
        (f"{p}.branch3x3_2", 192, 320, 3, 3),
        (f"{p}.branch7x7x3_1", cin, 192, 1, 1),
        (f"{p}.branch7x7x3_2", 192, 192, 1, 7),
        (f"{p}.branch7x7x3_3", 192, 192, 7, 1),
        (f"{p}.branch7x7x3_4", 192, 192, 3, 3),
    ]


def _block_e(p, cin):
    return [
        (f"{p}.branch1x1", cin, 320, 1, 1),
        (f"{p}.branch3x3_1", cin, 384, 1, 1),
        (f"{p}.branch3x3_2a", 384, 384, 1, 3),
        (f"{p}.branch3x3_2b", 384, 384, 3, 1),
        (f"{p}.branch3x3dbl_1", cin, 448, 1, 1),
        (f"{p}.branch3x3dbl_2", 448, 384, 3, 3),
        (f"{p}.branch3x3dbl_3a", 384, 384, 1, 3),
        (f"{p}.branch3x3dbl_3b", 384, 384, 3, 1),
        (f"{p}.branch_pool", cin, 192, 1, 1),
    ]


REFERENCE_CONVS = (
    [
        ("Conv2d_1a_3x3", 3, 32, 3, 3),
        ("Conv2d_2a_3x3", 32, 32, 3, 3),
        ("Conv2d_2b_3x3", 32, 64, 3, 3),
        ("Conv2d_3b_1x1", 64, 80, 1, 1),
        ("Conv2d_4a_3x3", 80, 192, 3, 3),
    ]
    + _block_a("Mixed_5b", 192, 32)
    + _block_a("Mixed_5c", 256, 64)
    + _block_a("Mixed_5d", 288, 64)
    + _block_b("Mixed_6a", 288)
    + _block_c("Mixed_6b", 768, 128)
    + _block_c("Mixed_6c", 768, 160)
    + _block_c("Mixed_6d", 768, 160)
    + _block_c("Mixed_6e", 768, 192)
    + _block_d("Mixed_7a", 768)
    + _block_e("Mixed_7b", 1280)
    + _block_e("Mixed_7c", 2048)
)

# Hand-derived parameter count (trainable parameters = what
# sum(p.numel() for p in model.parameters()) counts; BN running stats are
# buffers).  A BasicConv2d(cin, cout, kh x kw) has kh*kw*cin*cout conv weights
# and 2*cout BN weights/biases.  Per block (closed forms from the tables above):
#   stem (1a, 2a, 2b, 3b, 4a)        928 + 9,280 + 18,560 + 5,280 + 138,624 = 172,672
#   InceptionA(cin, pf) = cin*(176+pf) + 215,904 + 2*pf:
#       Mixed_5b 255,904   Mixed_5c 277,472   Mixed_5d 285,152
#   InceptionB(288)                                                     1,153,280
#   InceptionC(768, c7) = 296,448 + 4,236*c7 + 28*c7^2:
#       Mixed_6b (128) 1,297,408  Mixed_6c/6d (160) 1,691,008 each  Mixed_6e (192) 2,141,952
#   InceptionD(768)                                                     1,698,304
#   InceptionE(cin) = 1,344*cin + 3,324,288:
#       Mixed_7b (1280) 5,044,608   Mixed_7c (2048) 6,076,800
#   trunk total                                                        21,785,568
#   fc 2048*1008 + 1008                                                 2,065,392
#   total                                                              23,850,960
# Cross-check: torchvision's inception_v3() (aux logits, 1000 classes) has the
# well-known 27,161,264 parameters = 21,785,568 + AuxLogits 3,326,696
# (98,560 + 2,459,136 + 769,000) + fc 2,049,000.
BLOCK_PARAMS = {
    "stem": 172_672,
    "Mixed_5b": 255_904,
    "Mixed_5c": 277_472,
    "Mixed_5d": 285_152,
    "Mixed_6a": 1_153_280,
    "Mixed_6b": 1_297_408,
    "Mixed_6c": 1_691_008,
    "Mixed_6d": 1_691_008,
    "Mixed_6e": 2_141_952,
    "Mixed_7a": 1_698_304,
    "Mixed_7b": 5_044_608,
    "Mixed_7c": 6_076_800,
    "fc": 2_065_392,
}
REFERENCE_PARAM_COUNT = 23_850_960


@pytest.fixture(scope="module")
def shapes():
    return inc.init_shapes()


@pytest.fixture(scope="module")
def variables():
    return inc.random_variables(seed=0)


@pytest.fixture(scope="module")
def apply_fn():
    """One jitted forward shared by the tests (always called with batch 2)."""
    return jax.jit(inc.FIDInceptionV3().apply)


def test_hand_count_is_consistent_with_table():
    assert sum(BLOCK_PARAMS.values()) == REFERENCE_PARAM_COUNT
    assert 21_785_568 + 3_326_696 + 2_049_000 == 27_161_264
    by_block = collections.Counter()
    for name, cin, cout, kh, kw in REFERENCE_CONVS:
        top = name.split(".")[0]
        by_block["stem" if top.startswith("Conv2d") else top] += kh * kw * cin * cout + 2 * cout
    by_block["fc"] = 2048 * 1008 + 1008
    assert dict(by_block) == BLOCK_PARAMS
    assert len(REFERENCE_CONVS) == 94


def test_parameter_count_equals_reference(shapes):
    assert set(shapes) == {"params", "batch_stats"}
    assert inc.count_params(shapes["params"]) == REFERENCE_PARAM_COUNT
    for block, n in BLOCK_PARAMS.items():
        if block == "stem":
            got = sum(inc.count_params(v) for k, v in shapes["params"].items() if k.startswith("Conv2d"))
        else:
            got = inc.count_params(shapes["params"][block])
        assert got == n, block
    # BN running mean + var: 2 per BN channel = as many as BN weight + bias.
    assert inc.count_params(shapes["batch_stats"]) == 2 * sum(c[2] for c in REFERENCE_CONVS)


def test_torch_names_and_shapes_match_torchvision_layout(variables):
    sd = inc.flax_to_torch_state_dict(variables)
    expected = {}
    for name, cin, cout, kh, kw in REFERENCE_CONVS:
        expected[f"{name}.conv.weight"] = (cout, cin, kh, kw)  # OIHW
        for s in ("weight", "bias", "running_mean", "running_var"):
            expected[f"{name}.bn.{s}"] = (cout,)
    expected["fc.weight"] = (1008, 2048)
    expected["fc.bias"] = (1008,)
    assert {k: v.shape for k, v in sd.items()} == expected


def test_state_dict_round_trip_is_identity(variables):
    sd = inc.flax_to_torch_state_dict(variables)
    # layout: torch OIHW weight[o, i, y, x] == flax HWIO kernel[y, x, i, o]
    k = np.asarray(variables["params"]["Mixed_6b"]["branch7x7_2"]["conv"]["kernel"])
    w = sd["Mixed_6b.branch7x7_2.conv.weight"]
    assert k.shape == (1, 7, 128, 128) and w.shape == (128, 128, 1, 7)
    assert w[5, 3, 0, 6] == k[0, 6, 3, 5]
    np.testing.assert_array_equal(sd["fc.weight"], np.asarray(variables["params"]["fc"]["kernel"]).T)
    back = inc.torch_state_dict_to_flax(sd)
    flat_a = jax.tree_util.tree_flatten_with_path(variables)[0]
    flat_b = dict(jax.tree_util.tree_flatten_with_path(back)[0])
    assert len(flat_a) == len(flat_b)
    for path, leaf in flat_a:
        np.testing.assert_array_equal(np.asarray(flat_b[path]), np.asarray(leaf))


def test_converter_errors_name_the_key(variables):
    sd = inc.flax_to_torch_state_dict(variables)
    # num_batches_tracked (present in real BatchNorm state dicts) is ignored.
    ok = dict(sd, **{"Conv2d_1a_3x3.bn.num_batches_tracked": np.array(0)})
    inc.torch_state_dict_to_flax(ok)

    missing = dict(sd)
    del missing["Mixed_7c.branch_pool.bn.running_var"]
    with pytest.raises(inc.FIDWeightsError, match=r"missing key 'Mixed_7c\.branch_pool\.bn\.running_var'") as e:
        inc.torch_state_dict_to_flax(missing)
    assert "\n" not in str(e.value)

    extra = dict(sd, **{"AuxLogits.fc.weight": np.zeros((1000, 768), np.float32)})
    with pytest.raises(inc.FIDWeightsError, match=r"unexpected key 'AuxLogits\.fc\.weight'"):
        inc.torch_state_dict_to_flax(extra)

    wrong = dict(sd, **{"fc.weight": np.zeros((1000, 2048), np.float32)})  # torchvision's 1000 classes
    with pytest.raises(inc.FIDWeightsError, match=r"shape mismatch for 'fc\.weight'.*\(1000, 2048\).*\(1008, 2048\)"):
        inc.torch_state_dict_to_flax(wrong)


def test_missing_weights_file_says_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        inc.load_fid_inception_weights(tmp_path / "nope.pth")
    msg = str(e.value)
    assert inc.FID_WEIGHTS_URL in msg and "\n" not in msg
    assert inc.FID_WEIGHTS_URL == (
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
    )


def test_wrong_weights_files_give_one_line_errors(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(inc.FIDWeightsError) as e:
        inc.load_fid_inception_weights(junk)
    assert "\n" not in str(e.value)
    # A genuine torch file with the wrong contents: the first unexpected key is named.
    with pytest.raises(inc.FIDWeightsError, match="unexpected key 'f32'"):
        inc.load_fid_inception_weights(os.path.join(DATA, "torch_fixture_zip.pth"))
    with pytest.raises(inc.FIDWeightsError, match="sha256"):
        inc.load_fid_inception_weights(os.path.join(DATA, "torch_fixture_zip.pth"), sha256_prefix="00000000")


# ----------------------------------------------------------------------------
# Network
# ----------------------------------------------------------------------------


def test_forward_shapes_and_determinism(variables, apply_fn):
    x = np.random.default_rng(0).uniform(-1, 1, (2, 299, 299, 3)).astype(np.float32)
    pool3, logits = apply_fn(variables, x)
    assert pool3.shape == (2, 2048) and logits.shape == (2, 1008)
    assert np.all(np.isfinite(pool3)) and np.all(np.isfinite(logits))
    assert np.all(np.asarray(pool3) >= 0)  # mean of ReLU outputs
    # logits are fc(pool3): check the classifier wiring with numpy.
    w = np.asarray(variables["params"]["fc"]["kernel"], np.float64)
    b = np.asarray(variables["params"]["fc"]["bias"], np.float64)
    np.testing.assert_allclose(np.asarray(logits), np.asarray(pool3, np.float64) @ w + b, rtol=1e-4, atol=1e-4)
    # rows are processed independently (BatchNorm uses running statistics)
    p_rev, _ = apply_fn(variables, x[::-1])
    np.testing.assert_allclose(np.asarray(p_rev)[::-1], np.asarray(pool3), rtol=1e-5, atol=1e-5)


def test_intermediate_grid_sizes(shapes):
    # Mixed_5d sees 35x35x288, Mixed_6e 17x17x768, Mixed_7c 8x8x2048 at 299 input:
    # the per-block input channels in the table are what the Flax blocks consume.
    for name, cin, cout, kh, kw in REFERENCE_CONVS:
        parts = name.split(".")
        node = shapes["params"]
        for p in parts:
            node = node[p]
        assert node["conv"]["kernel"].shape == (kh, kw, cin, cout), name


def _np_pool(x, op, exclude_pad):
    n, h, w, c = x.shape
    out = np.empty_like(x)
    for i in range(h):
        for j in range(w):
            win = x[:, max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2, :]
            if op == "max":
                out[:, i, j] = win.max(axis=(1, 2))
            elif exclude_pad:
                out[:, i, j] = win.mean(axis=(1, 2))
            else:
                out[:, i, j] = win.sum(axis=(1, 2)) / 9.0
    return out


def test_pooling_semantics():
    x = np.random.default_rng(1).standard_normal((2, 5, 6, 3)).astype(np.float32)
    got = np.asarray(inc.avg_pool_3x3_exclude_pad(x))
    np.testing.assert_allclose(got, _np_pool(x, "avg", True), rtol=1e-6, atol=1e-6)
    # differs from torchvision's count_include_pad=True at the border
    assert not np.allclose(got[:, 0, 0], _np_pool(x, "avg", False)[:, 0, 0])
    np.testing.assert_array_equal(np.asarray(inc.max_pool_3x3_same(x - 10.0)), _np_pool(x - 10.0, "max", False))


# ----------------------------------------------------------------------------
# Preprocessing
# ----------------------------------------------------------------------------


def _torch_bilinear_matrix(n_in, n_out):
    """Interpolation matrix of F.interpolate(mode='bilinear', align_corners=False).

    From aten/src/ATen/native/UpSample.h: src = (dst + 0.5) * in/out - 0.5,
    clamped below at 0; i0 = floor(src), i1 = min(i0 + 1, in - 1),
    weights (1 - l, l) with l = src - i0.  No antialiasing.
    """
    scale = n_in / n_out
    m = np.zeros((n_out, n_in))
    for d in range(n_out):
        src = max((d + 0.5) * scale - 0.5, 0.0)
        i0 = min(int(np.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        lam = src - i0
        m[d, i0] += 1.0 - lam
        m[d, i1] += lam
    return m


def _torch_resize(img01):  # [n, h, w, c] in [0, 1] -> [n, 299, 299, c], float64
    mh = _torch_bilinear_matrix(img01.shape[1], 299)
    mw = _torch_bilinear_matrix(img01.shape[2], 299)
    x = np.transpose(img01.astype(np.float64), (0, 3, 1, 2))  # [n, c, h, w]
    return np.transpose(mh @ x @ mw.T, (0, 2, 3, 1))


@pytest.mark.parametrize("size", [(32, 32), (310, 401)])  # up- and down-sampling
def test_resize_matches_pytorch_bilinear(size):
    rng = np.random.default_rng(2)
    imgs = rng.integers(0, 256, (2, *size, 3), dtype=np.uint8)
    got = np.asarray(inc.preprocess_images(imgs))
    ref = 2.0 * _torch_resize(imgs / 255.0) - 1.0
    assert got.shape == (2, 299, 299, 3) and got.dtype == np.float32
    # The reference here is exact (float64).  Both PyTorch and jax compute the
    # source coordinate in float32, so each is off by up to ~|src| * 6e-8 in
    # the interpolation weight: ~4e-5 for 310 rows (measured for torch's own
    # float32 F.interpolate against this float64 formula).
    np.testing.assert_allclose(got, ref, atol=1e-4)
    assert np.abs(got - ref).mean() < 1e-5
    if size[0] > 299:  # why antialias=False: jax's default antialias=True differs when shrinking
        aa = np.asarray(jax.image.resize(imgs / 255.0, (2, 299, 299, 3), "bilinear", antialias=True))
        assert np.abs(2 * aa - 1 - ref).max() > 1e-2


def test_value_conventions():
    rng = np.random.default_rng(3)
    u8 = rng.integers(0, 256, (1, 299, 299, 3), dtype=np.uint8)
    np.testing.assert_allclose(np.asarray(inc.preprocess_images(u8)), u8 / 255.0 * 2 - 1, atol=1e-6)
    f = rng.uniform(-1, 1, (1, 299, 299, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(inc.preprocess_images(f)), f, atol=1e-6)
    np.testing.assert_allclose(np.asarray(inc.preprocess_images((f + 1) / 2, value_range=(0, 1))), f, atol=1e-6)
    grey = rng.integers(0, 256, (1, 28, 28, 1), dtype=np.uint8)
    rgb = np.repeat(grey, 3, axis=-1)
    np.testing.assert_array_equal(np.asarray(inc.preprocess_images(grey)), np.asarray(inc.preprocess_images(rgb)))
    with pytest.raises(ValueError):
        inc.preprocess_images(np.zeros((1, 3, 32, 32), np.float32))  # NCHW


def test_inception_outputs_batches_and_pads(variables, apply_fn):
    rng = np.random.default_rng(4)
    imgs = rng.integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
    p_all, l_all = inc.inception_outputs(variables, imgs, batch_size=2)  # 2 + (1 padded)
    assert p_all.shape == (3, 2048) and l_all.shape == (3, 1008)
    pre = np.asarray(inc.preprocess_images(imgs))
    p01, l01 = apply_fn(variables, pre[:2])
    p2, l2 = apply_fn(variables, pre[[2, 2]])
    np.testing.assert_allclose(p_all, np.concatenate([p01, p2[:1]]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(l_all, np.concatenate([l01, l2[:1]]), rtol=1e-5, atol=1e-5)
    # an iterable of batches gives the same result
    p_it, _ = inc.inception_outputs(variables, [imgs[:1], imgs[1:]], batch_size=2)
    np.testing.assert_allclose(p_it, p_all, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------
# torch checkpoint reader
# ----------------------------------------------------------------------------


def _get(obj, key):
    for part in key.split("/"):
        obj = obj[int(part)] if isinstance(obj, (list, tuple)) else obj[part]
    return obj


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_reader_reproduces_torch_values_exactly(fmt):
    obj = torch_pickle.load(os.path.join(DATA, f"torch_fixture_{fmt}.pth"))
    expected = np.load(os.path.join(DATA, "torch_fixture_expected.npz"))
    checked = 0
    for key in expected.files:
        for suffix, dtype_name, bits in ((".bf16bits", "bfloat16", np.uint16), (".f8e4m3bits", "float8_e4m3fn", np.uint8)):
            if key.endswith(suffix):
                name = key[: -len(suffix)]
                if fmt == "legacy" and name in ("f8",):
                    break
                arr = _get(obj, name)
                assert arr.dtype.name == dtype_name
                np.testing.assert_array_equal(arr.view(bits), expected[key])
                checked += 1
                break
        else:
            if fmt == "legacy" and key == "u16":
                continue  # uint16 needs the zip format's UntypedStorage
            arr, exp = _get(obj, key), expected[key]
            assert isinstance(arr, np.ndarray), key
            assert arr.dtype == exp.dtype and arr.shape == exp.shape, key
            np.testing.assert_array_equal(arr, exp, err_msg=key)
            assert arr.flags.c_contiguous
            checked += 1
    assert checked >= (26 if fmt == "legacy" else 28)
    # views are materialised with their own offset/strides
    np.testing.assert_array_equal(obj["transposed"], expected["transposed"])
    assert obj["scalar"].shape == () and obj["empty"].shape == (0, 3)
    # tensors that shared a storage come back as independent arrays
    a = obj["shared_a"]
    a[0] = -123.0
    assert obj["shared_b"].min() >= 0
    # containers and non-tensor leaves survive; state dicts keep order + _metadata
    assert obj["nested"]["list"][1:] == [5, "text"] and isinstance(obj["nested"]["tuple"], tuple)
    sd = obj["state_dict"]
    assert isinstance(sd, collections.OrderedDict)
    assert list(sd) == ["0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"]
    assert sd["1.num_batches_tracked"].dtype == np.int64
    assert sd._metadata["1"] == {"version": 2}


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_reader_refuses_arbitrary_globals(tmp_path):
    zpath = tmp_path / "evil.pth"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("evil/data.pkl", pickle.dumps({"x": _Evil()}, protocol=2))
    with pytest.raises(torch_pickle.TorchPickleError, match="refusing to unpickle global"):
        torch_pickle.load(zpath)
    lpath = tmp_path / "evil_legacy.pth"
    with open(lpath, "wb") as f:
        for part in (torch_pickle.MAGIC_NUMBER, torch_pickle.PROTOCOL_VERSION, {"little_endian": True}):
            pickle.dump(part, f, protocol=2)
        pickle.dump(_Evil(), f, protocol=2)
    with pytest.raises(torch_pickle.TorchPickleError, match="refusing to unpickle global"):
        torch_pickle.load(lpath)


def _fake_torch_save(tmp_path, monkeypatch, build, storages):
    """Write a zip-format checkpoint without torch, for malformed-input tests.

    Installs throwaway ``torch`` / ``torch._utils`` modules so that pickle can
    name the same globals torch.save would; ``build(fake)`` returns the object.
    """
    torch_mod = types.ModuleType("torch")
    utils_mod = types.ModuleType("torch._utils")

    class FloatStorage:
        def __init__(self, key, numel):
            self.key, self.numel = key, numel

    def _rebuild_tensor_v2(*args):  # only named, never called here
        raise AssertionError

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch_mod.FloatStorage, torch_mod._utils = FloatStorage, utils_mod
    utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch_mod)
    monkeypatch.setitem(sys.modules, "torch._utils", utils_mod)

    class Tensor:
        def __init__(self, storage, offset, size, stride):
            self.args = (storage, offset, size, stride, False, collections.OrderedDict())

        def __reduce__(self):
            return (_rebuild_tensor_v2, self.args)

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, FloatStorage):
                return ("storage", FloatStorage, obj.key, "cpu", obj.numel)
            return None

    fake = types.SimpleNamespace(Storage=FloatStorage, Tensor=Tensor)
    buf = io.BytesIO()
    P(buf, protocol=2).dump(build(fake))
    path = tmp_path / "fake.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fake/data.pkl", buf.getvalue())
        for key, arr in storages.items():
            zf.writestr(f"fake/data/{key}", np.asarray(arr, "<f4").tobytes())
    return path


def test_reader_validates_views_and_storage_sizes(tmp_path, monkeypatch):
    data = {"0": np.arange(6, dtype=np.float32)}
    ok = _fake_torch_save(
        tmp_path, monkeypatch, lambda t: {"w": t.Tensor(t.Storage("0", 6), 1, (2, 2), (1, 2))}, data
    )
    np.testing.assert_array_equal(torch_pickle.load(ok)["w"], [[1, 3], [2, 4]])  # transposed view, offset 1
    oob = _fake_torch_save(
        tmp_path, monkeypatch, lambda t: {"w": t.Tensor(t.Storage("0", 6), 3, (2, 2), (2, 1))}, data
    )
    with pytest.raises(torch_pickle.TorchPickleError, match="exceeds its storage"):
        torch_pickle.load(oob)
    short = _fake_torch_save(
        tmp_path, monkeypatch, lambda t: {"w": t.Tensor(t.Storage("0", 8), 0, (8,), (1,))}, data
    )
    with pytest.raises(torch_pickle.TorchPickleError, match="expected 32 bytes, found 24"):
        torch_pickle.load(short)
    missing = _fake_torch_save(
        tmp_path, monkeypatch, lambda t: {"w": t.Tensor(t.Storage("7", 2), 0, (2,), (1,))}, data
    )
    with pytest.raises(torch_pickle.TorchPickleError, match="missing storage record"):
        torch_pickle.load(missing)
