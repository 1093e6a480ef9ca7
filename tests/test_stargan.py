"""StarGAN: D's and G's objectives against NumPy formulas (WGAN-GP, domain classification,
reconstruction), the target-label draws over the global batch (1 vs 4 devices), the
multi-label loss and the CelebA grid labels by hand, the quick run through launch.py
(grids, evaluation, modes), bit-exact resume and 1 vs 4 devices, TFDS ``celeb_a`` on mock data."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import final_state, launch, load_experiment, on_mesh, resumed_equals_straight
from flax import traverse_util

from jgan import steps, train
from jgan.config import ConfigError
from jgan.data import pipeline
from jgan.experiment import build, make_family


def _quick(variant="quick", **overrides):
    return load_experiment("experiments/stargan.py", variant, **{"eval.every": 0, **overrides})


# ----------------------------------------------------------------------------- NumPy references


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _ce(logits, onehot):
    """Softmax cross-entropy, mean over the batch (PyTorch's F.cross_entropy)."""
    return float(-np.mean(np.sum(onehot * _log_softmax(np.float64(logits)), -1)))


def _bce_sum(logits, target):
    """binary_cross_entropy_with_logits(size_average=False) / N."""
    z = np.float64(logits)
    return float(np.sum(np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z)))) / len(z))


def _tile(x, c):
    return np.concatenate([x, np.broadcast_to(c[:, None, None, :], (*x.shape[:3], c.shape[1]))], -1)


@pytest.fixture(scope="module")
def setup():
    """The quick family with one D update per iteration, on one device, and one real batch."""
    cfg = _quick(**{"train.d_steps": 1})
    exp = build(cfg, mesh=steps.make_mesh(jax.devices()[:1]), donate=False)
    batch = pipeline.load_batch(exp.family.source(), np.array([3, 4503, 4703, 4903]), image_size=28,
                                channels=1)
    assert list(batch["label"]) == [0, 1, 2, 3]  # one digit of each domain
    return exp, batch


def test_d_and_g_objectives_are_the_papers(setup):
    exp, batch = setup
    fam, state = exp.family, jax.device_get(exp.state)
    new, m = exp.phases["iteration"](exp.state, exp.phases.shard_batch({k: v[None] for k, v in batch.items()}),
                                     jnp.int32(0))
    new = jax.device_get(new)
    x, k = batch["x"], fam.k
    c_org = np.eye(k, dtype=np.float32)[batch["label"]]
    # the documented draws of D update 0: targets from fold_in(kj, 0), interpolation from fold_in(kj, 1)
    kj = jax.random.fold_in(jax.random.fold_in(state.rng, 0), 0)
    c_trg = np.eye(k, dtype=np.float32)[np.asarray(jax.random.randint(jax.random.fold_in(kj, 0), (4,), 0, k))]
    eps = np.asarray(jax.random.uniform(jax.random.fold_in(kj, 1), (4, 1, 1, 1)))
    G = lambda p, inp: np.asarray(fam.g_model.apply({"params": p}, jnp.asarray(inp), train=True))  # noqa: E731
    D = lambda p, inp: [np.asarray(o) for o in fam.d_model.apply({"params": p}, jnp.asarray(inp))]  # noqa: E731
    g0, d0, d1 = state.nets["g"].params, state.nets["d"].params, new.nets["d"].params

    fake = G(g0, _tile(x, c_trg))
    (src_r, cls_r), (src_f, _) = D(d0, x), D(d0, fake)
    x_hat = eps * x + (1 - eps) * fake
    grad = np.asarray(jax.grad(lambda z: jnp.sum(fam.d_model.apply({"params": d0}, z)[0]))(jnp.asarray(x_hat)))
    gp = np.mean((np.sqrt(np.sum(np.float64(grad) ** 2, axis=(1, 2, 3))) - 1) ** 2)
    d_cls = _ce(cls_r, c_org)
    want_d = -src_r.mean() + src_f.mean() + 1.0 * d_cls + 10.0 * gp
    np.testing.assert_allclose(float(m["d_cls"]), d_cls, rtol=1e-5)
    np.testing.assert_allclose(float(m["d_gp"]), gp, rtol=1e-4)
    np.testing.assert_allclose(float(m["d_loss"]), want_d, rtol=1e-5)

    # G against the updated D, on the same batch and targets
    fake = G(g0, _tile(x, c_trg))
    src, cls = D(d1, fake)
    rec = G(g0, _tile(fake, c_org))
    g_rec = np.mean(np.abs(x - rec))
    want_g = -src.mean() + 1.0 * _ce(cls, c_trg) + 10.0 * g_rec
    np.testing.assert_allclose(float(m["g_rec"]), g_rec, rtol=1e-5)
    np.testing.assert_allclose(float(m["g_cls"]), _ce(cls, c_trg), rtol=1e-5)
    np.testing.assert_allclose(float(m["g_loss"]), want_g, rtol=1e-5)
    assert gp > 0 and d_cls > 0 and g_rec > 0


def test_generator_sees_the_label_only_through_zero_padding(setup):
    # A tiled label adds a spatial constant to the stem's output wherever the kernel does not
    # overhang a zero border; instance norm removes constants: with reflection padding G(x, c)
    # cannot depend on c, with zero padding (StarGAN's) it does.
    from jgan.models.resnet_translator import ResnetGenerator
    exp, batch = setup
    fam, params = exp.family, jax.device_get(exp.state).nets["g"].params
    x = jnp.asarray(batch["x"][:2])
    eye = jnp.eye(fam.k)
    outs = {}
    for padding in ("zero", "reflect"):
        g = ResnetGenerator(out_channels=1, width=4, num_blocks=1, padding=padding)
        inputs = [jnp.asarray(_tile(np.asarray(x), np.tile(eye[j], (2, 1)))) for j in (0, 1)]
        outs[padding] = [np.asarray(g.apply({"params": params}, inp, train=False)) for inp in inputs]
    assert np.max(np.abs(outs["zero"][0] - outs["zero"][1])) > 1e-3
    np.testing.assert_allclose(outs["reflect"][0], outs["reflect"][1], atol=1e-5)
    got = fam.translate(jax.device_get(exp.state), batch["x"][:2], eye[1])
    np.testing.assert_allclose(got, outs["zero"][1], atol=1e-5)


@pytest.mark.parametrize("side,n_layers", [(28, 2), (28, 3), (28, 4), (128, 6), (17, 1)])
def test_discriminator_maps_follow_the_references_conv_arithmetic(side, n_layers):
    # PyTorch's Conv2d(k=4, s=2, p=1) gives floor((s + 2 - 4) / 2) + 1 per layer; the
    # classification conv spans what is left (the reference's int(image_size / 2^repeat_num))
    from jgan.models.stargan import StarGANDiscriminator
    s = side
    for _ in range(n_layers):
        s = (s + 2 - 4) // 2 + 1
    assert s == int(side / 2 ** n_layers)
    d = StarGANDiscriminator(num_domains=4, n_layers=n_layers, width=2)
    x = jnp.zeros((3, side, side, 1))
    src, cls = jax.eval_shape(lambda x: d.init_with_output(jax.random.PRNGKey(0), x)[0], x)
    assert src.shape == (3, s, s) and cls.shape == (3, 4)
    with pytest.raises(ValueError, match="at least"):
        StarGANDiscriminator(num_domains=4, n_layers=n_layers + 5, width=2).init(jax.random.PRNGKey(0), x)


def _receptive_field(n_layers):
    r, jump = 1, 1
    for _ in range(n_layers):  # 4x4 stride 2
        r, jump = r + 3 * jump, 2 * jump
    return r + 2 * jump        # the 3x3 real/fake conv


def test_the_default_real_fake_head_sees_the_whole_image_as_the_references():
    # the reference at 128 px: 6 layers, 318 px; with 2 layers at 28 px (18 px patches) the
    # digits run never translated (results/stargan_digits.md)
    from jgan.models.stargan import StarGANDiscriminator
    assert _receptive_field(6) == 318 and _receptive_field(2) == 18
    cfg = load_experiment("experiments/stargan.py")
    n, side = cfg.model.discriminator.n_layers, cfg.data.image_size
    assert _receptive_field(n) >= side
    x = jax.random.normal(jax.random.PRNGKey(1), (1, side, side, 1))
    for n_layers, whole in ((n, True), (2, False)):  # the support of a central output's input gradient
        d = StarGANDiscriminator(num_domains=4, n_layers=n_layers, width=2)
        p = d.init(jax.random.PRNGKey(0), x)
        i = d.apply(p, x)[0].shape[1] // 2
        g = jax.grad(lambda x: d.apply(p, x)[0][0, i, i])(x)
        assert bool(np.all(np.asarray(g) != 0)) == whole


def test_attribute_loss_and_targets_over_the_global_batch():
    fam = make_family(_quick("celeba"))  # builds without opening the data
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(8, 5)).astype(np.float32)
    labels = rng.integers(0, 2, (8, 5)).astype(np.float32)
    np.testing.assert_allclose(float(fam.cls_loss(jnp.asarray(logits), jnp.asarray(labels))),
                               _bce_sum(logits, labels), rtol=1e-6)
    # a permutation of the global batch's label vectors, the same on 1 and 4 devices
    key = jax.random.PRNGKey(7)
    perm = np.asarray(jax.random.permutation(key, 8))
    assert sorted(perm) == list(range(8)) and list(perm) != list(range(8))
    for n in (1, 4):
        got = np.asarray(on_mesh(lambda c: fam.draw_targets(key, c), n, jnp.asarray(labels)))
        np.testing.assert_array_equal(got, labels[perm])
    # one domain per example: uniform draws for the global batch, the same on 1 and 4 devices
    digits = make_family(_quick())
    onehot = np.eye(4, dtype=np.float32)[np.arange(8) % 4]
    want = np.asarray(jax.random.randint(key, (8,), 0, 4))
    for n in (1, 4):
        got = np.asarray(on_mesh(lambda c: digits.draw_targets(key, c), n, jnp.asarray(onehot)))
        np.testing.assert_array_equal(got, np.eye(4)[want])
    # the grid's columns: hair colour set alone within its group, gender and age flipped
    cols = fam.grid_targets(np.array([[1, 0, 0, 1, 0]], np.float32))
    assert [list(c[0]) for c in cols] == [[1, 0, 0, 1, 0], [0, 1, 0, 1, 0], [0, 0, 1, 1, 0], [1, 0, 0, 0, 0],
                                          [1, 0, 0, 1, 1]]


def test_resume_is_bit_exact_and_four_devices_match_one(tmp_path):
    cfg = _quick()  # batch 4, 2 D updates per iteration, 4 iterations
    one, four = steps.make_mesh(jax.devices()[:1]), steps.make_mesh(jax.devices()[:4])
    a = resumed_equals_straight(cfg, _quick(**{"train.steps": 2}), tmp_path, one)
    train.run(cfg, str(tmp_path / "four"), mesh=four)
    d = final_state(cfg, tmp_path / "four", four)
    # Adam moves every element by about lr (1e-4) whatever its gradient's size, so elements whose
    # gradient is float noise (biases before instance norm, some near-zero D weights) take steps of
    # either sign on 1 and 4 devices: a few elements may differ by up to one step per update.
    for name, updates in (("g", 4), ("d", 8)):
        for path, u in traverse_util.flatten_dict(a.nets[name].params).items():
            v = traverse_util.flatten_dict(d.nets[name].params)[path]
            if name == "g" and path[-1] == "bias" and path[0] != "head":
                continue  # before instance norm: its gradient is float noise in exact arithmetic 0
            off = ~np.isclose(u, v, rtol=2e-3, atol=2e-5)
            # 3%: the stem's weights on the label channels get gradient from the border band only
            # (instance norm cancels the rest), so more of them are near 0 (measured: 11 of 980)
            assert off.sum() <= max(1, 0.03 * off.size), (name, path, off.sum())
            assert np.max(np.abs(u - v)) <= 2 * updates * 1e-4 * 1.01, (name, path)  # +-lr per update each
    # the logged losses (means over steps 1-2 and 3-4) agree: the same targets and interpolates
    logs = [[json.loads(r) for r in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
            for run in ("straight", "four")]
    assert len(logs[0]) == len(logs[1]) == 2
    for r1, r4 in zip(*logs):
        for k in ("d_loss", "d_gp", "d_cls", "g_loss", "g_cls", "g_rec"):
            np.testing.assert_allclose(r1[k], r4[k], rtol=1e-3, err_msg=k)


@pytest.fixture(scope="module")
def classifier_dirs(tmp_path_factory):
    out = {}
    for kind, variant in (("domain", "quick"), ("digit", "digit,quick")):
        workdir = tmp_path_factory.mktemp(f"stargan_{kind}_classifier")
        r = launch("--config", f"experiments/classifier_stargan.py:{variant}", "--workdir", str(workdir))
        assert r.returncode == 0, r.stderr[-3000:]
        out[kind] = str(workdir)
    return out


def test_quick_variant_through_launch_evaluates_every_target_domain(tmp_path, classifier_dirs):
    run = tmp_path / "run"
    args = ["--config", "experiments/stargan.py:quick", "--workdir", str(run),
            f"--config.eval.domain_classifier={classifier_dirs['domain']}",
            f"--config.eval.digit_classifier={classifier_dirs['digit']}"]
    r = launch(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [rec for rec in records if "eval/mean/fid" in rec]
    assert [rec["step"] for rec in evals] == [4]
    e = evals[0]
    targets = ("mnist", "dejavu_sans_bold", "dejavu_serif_italic", "dejavu_sans_mono")
    for t in targets:
        for k in ("domain_accuracy", "digit_accuracy", "fid", "kid", "copy_input/domain_accuracy",
                  "copy_input/digit_accuracy", "copy_input/fid", "target/domain_accuracy", "target/digit_accuracy"):
            assert f"eval/to_{t}/{k}" in e, (t, k)
        assert e[f"eval/to_{t}/num_examples"] == 60  # 20 held-out digits of each other domain
    assert e["eval/mean/fid"] == pytest.approx(np.mean([e[f"eval/to_{t}/fid"] for t in targets]))
    assert {"d_loss", "d_gp", "d_cls", "g_rec", "g_cls", "d_real", "d_fake"} <= set(records[0])
    from PIL import Image
    # 2 held-out digits per domain (8 rows), the input and one column per target domain
    assert Image.open(run / "samples" / "step_0000004.png").size == (5 * 30 + 2, 8 * 30 + 2)
    r = launch(*args, "--mode", "eval")
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads((run / "eval.json").read_text())
    assert result["step"] == 4 and result["mean/fid"] == pytest.approx(e["eval/mean/fid"], rel=1e-6)
    r = launch(*args, "--mode", "sample", "--seeds", "0-2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert Image.open(r.stdout.split()[-1]).size == (5 * 30 + 2, 12 * 30 + 2)
    # a classifier of other domains is refused in one line naming the command
    r = launch(*args, "--config.data.domains=('mnist','sklearn')", "--mode", "eval")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "experiments/classifier_stargan.py" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("override,field", [
    ({"data.domains": ("mnist",)}, "data.domains"),
    ({"data.domains": ("mnist", "typeset:nofont")}, "data.domains"),
    ({"data.flip": True}, "data.flip"),
    ({"model.discriminator.n_layers": 5}, "model.discriminator.n_layers"),  # 28 < 2^5
    ({"model.generator.norm": "batch"}, "model.generator.norm"),
    ({"loss.gp_weight": -1.0}, "loss.gp_weight"),
])
def test_bad_config_names_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        make_family(_quick(**override))


def test_celeba_variant_reads_attribute_labels_on_mock_data():
    import tensorflow_datasets as tfds
    cfg = _quick("celeba", **{"data.image_size": 16, "model.discriminator.n_layers": 2})
    with tfds.testing.mock_data(num_examples=6):
        fam = make_family(cfg)
        src = fam.source()
        raw = [src.source[i]["attributes"] for i in range(4)]
        batch = pipeline.make_dataset(src, seed=0, global_batch_size=4, image_size=16, channels=3)[0]
        held = fam.held_out(2)
    assert len(src) == 6 and batch["x"].shape == (4, 16, 16, 3) and batch["label"].shape == (4, 5)
    want = np.array([[bool(a[name]) for name in cfg.data.attributes] for a in raw], np.int32)
    np.testing.assert_array_equal(np.stack([src[i]["label"] for i in range(4)]), want)
    assert len(held) == 1 and held[0]["x"].shape == (2, 16, 16, 3) and held[0]["label"].shape == (2, 5)
