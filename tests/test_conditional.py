"""Conditional GANs (cGAN, projection, AC-GAN) and InfoGAN: models, losses, step, tools."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import launch, load_experiment

from jgan import conditioning as C
from jgan import train
from jgan.config import ConfigError, base_config
from jgan.families.gan import validate
from jgan.eval.evaluate import conditional_metrics
from jgan.models import make_discriminator, make_generator
from jgan.models.dcgan import ConditionalBatchNorm
from jgan.experiment import build
from jgan.steps import make_mesh


def _model_cfg(g="dcgan28", d="dcgan28"):
    m = base_config().model
    m.generator.name, m.discriminator.name = g, d
    m.generator.width = m.discriminator.width = 8
    m.generator.hidden = m.discriminator.hidden = (16,)
    return m


# ----------------------------------------------------------------------------- models


@pytest.mark.parametrize("conditioning,g,d", [("concat", "mlp", "mlp"), ("concat", "dcgan28", "dcgan28"),
                                              ("projection", "dcgan28", "dcgan28"),
                                              ("acgan", "dcgan28", "dcgan28")])
def test_label_conditioned_generators_follow_their_labels(conditioning, g, d):
    m = _model_cfg(g, d)
    gen = make_generator(m.generator, (28, 28, 1), conditioning, 10)
    z = jax.random.normal(jax.random.PRNGKey(0), (6, 16))
    y = jnp.array([0, 1, 2, 3, 4, 5])
    v = gen.init(jax.random.PRNGKey(1), z, y, train=False)
    # perturb every parameter (conditional BatchNorm starts class-independent: gamma 1, beta 0)
    leaves, tree = jax.tree.flatten(v["params"])
    keys = jax.random.split(jax.random.PRNGKey(3), len(leaves))
    v = {**v, "params": jax.tree.unflatten(tree, [p + 0.1 * jax.random.normal(k, p.shape)
                                                  for p, k in zip(leaves, keys)])}
    x = gen.apply(v, z, y, train=False)
    assert x.shape == (6, 28, 28, 1)
    # same z, other labels: other images; same z and labels: the same images
    x2 = gen.apply(v, z, (y + 1) % 10, train=False)
    assert np.all(np.abs(np.asarray(x - x2)).reshape(6, -1).max(1) > 1e-4)
    np.testing.assert_array_equal(gen.apply(v, z, y, train=False), x)

    dis = make_discriminator(m.discriminator, (28, 28, 1), 1, conditioning, 10)
    dv = dis.init(jax.random.PRNGKey(2), *((x, y) if conditioning != "acgan" else (x,)), train=False)
    out = dis.apply(dv, *((x, y) if conditioning != "acgan" else (x,)), train=False)
    if conditioning == "acgan":
        logits, aux = out
        assert logits.shape == (6,) and aux.shape == (6, 10)
    else:
        assert out.shape == (6,)
        assert not np.allclose(out, dis.apply(dv, x, (y + 3) % 10, train=False))


def test_projection_discriminator_is_linear_head_plus_embedding_inner_product():
    m = _model_cfg()
    dis = make_discriminator(m.discriminator, (28, 28, 1), 1, "projection", 10)
    body = make_discriminator(m.discriminator, (28, 28, 1)).clone(head=False)
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 28, 28, 1))
    y = jnp.array([3, 1, 4, 1, 5])
    v = dis.init(jax.random.PRNGKey(1), x, y, train=False)
    p = v["params"]
    h = body.apply({"params": p["body"], "batch_stats": v["batch_stats"]["body"]}, x, train=False)
    expect = h @ p["linear"]["kernel"][:, 0] + p["linear"]["bias"][0] + jnp.sum(p["embed"]["embedding"][y] * h, -1)
    np.testing.assert_allclose(dis.apply(v, x, y, train=False), expect, rtol=1e-5, atol=1e-5)


def test_conditional_batchnorm_is_batchnorm_with_per_class_affine():
    x = jax.random.normal(jax.random.PRNGKey(0), (8, 3, 3, 4)) * 2 + 1
    y = jnp.array([0, 1, 2, 0, 1, 2, 0, 1])
    cbn = ConditionalBatchNorm(3, axis_name=None)
    v = cbn.init(jax.random.PRNGKey(0), x, y, train=False)
    gamma = jax.random.normal(jax.random.PRNGKey(1), (3, 4))
    beta = jax.random.normal(jax.random.PRNGKey(2), (3, 4))
    params = {"gamma": {"embedding": gamma}, "beta": {"embedding": beta}}
    out, _ = cbn.apply({"params": params, "batch_stats": v["batch_stats"]}, x, y, train=True,
                       mutable=["batch_stats"])
    xn = np.asarray(x)
    mean, var = xn.mean((0, 1, 2)), xn.var((0, 1, 2))
    expect = (xn - mean) / np.sqrt(var + 1e-5) * np.asarray(gamma)[y][:, None, None] + np.asarray(beta)[y][:, None, None]
    np.testing.assert_allclose(out, expect, rtol=1e-4, atol=1e-4)
    # fresh init: gamma 1, beta 0, i.e. plain normalisation
    out0, _ = cbn.apply(v, x, y, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(out0, (xn - mean) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-4)


def test_infogan_discriminator_has_a_q_head_on_the_shared_body():
    m = _model_cfg()
    dis = make_discriminator(m.discriminator, (28, 28, 1), 1, "infogan", 10, 2)
    x = jnp.zeros((4, 28, 28, 1))
    v = dis.init(jax.random.PRNGKey(0), x, train=False)
    logits, q = dis.apply(v, x, train=False)
    assert logits.shape == (4,) and q.shape == (4, 12)
    assert {"body", "linear", "aux_hidden", "aux_bn", "aux_out"} == set(v["params"])


def test_infogan_paper_networks_have_the_fc_1024_layers():
    """Chen et al. 2016, appendix Table 1 (MNIST): G = FC 1024 - FC 7x7x128 - upconv 64 -
    upconv 1; D = conv 64 - conv 128 - FC 1024 - heads (Q: FC 128 - FC codes)."""
    m = _model_cfg()
    m.generator.fc = m.discriminator.fc = 1024
    m.generator.width = m.discriminator.width = 64
    dis = make_discriminator(m.discriminator, (28, 28, 1), 1, "infogan", 10, 2)
    gen = make_generator(m.generator, (28, 28, 1), "infogan", 10)
    vd = dis.init(jax.random.PRNGKey(0), jnp.zeros((4, 28, 28, 1)), train=False)
    vg = gen.init(jax.random.PRNGKey(0), jnp.zeros((4, 74)), train=False)
    d_dense = sorted(x.shape for p, x in jax.tree_util.tree_leaves_with_path(vd["params"])
                     if "Dense" in jax.tree_util.keystr(p) and x.ndim == 2)
    g_dense = sorted(x.shape for p, x in jax.tree_util.tree_leaves_with_path(vg["params"])
                     if "Dense" in jax.tree_util.keystr(p) and x.ndim == 2)
    assert d_dense == [(7 * 7 * 128, 1024)]
    assert vd["params"]["aux_hidden"]["kernel"].shape == (1024, 128)
    assert vd["params"]["linear"]["kernel"].shape == (1024, 1)
    assert g_dense == [(74, 1024), (1024, 7 * 7 * 128)]
    assert gen.apply(vg, jnp.zeros((4, 74)), train=False).shape == (4, 28, 28, 1)


# ----------------------------------------------------------------------------- latents and losses


def test_infogan_latents_append_one_hot_and_continuous_codes():
    cond = C.Conditioning("infogan", num_classes=10, num_continuous=2)
    lat = C.draw_latents(jax.random.PRNGKey(0), 1000, 62, cond)
    assert lat.z.shape == (1000, 74) and lat.labels.shape == (1000,) and lat.continuous.shape == (1000, 2)
    np.testing.assert_array_equal(lat.z[:, :62], jax.random.normal(jax.random.PRNGKey(0), (1000, 62)))
    np.testing.assert_array_equal(jnp.argmax(lat.z[:, 62:72], -1), lat.labels)
    np.testing.assert_array_equal(lat.z[:, 62:72].sum(-1), 1.0)
    np.testing.assert_array_equal(lat.z[:, 72:], lat.continuous)
    assert float(lat.continuous.min()) >= -1 and float(lat.continuous.max()) <= 1
    assert abs(float(lat.continuous.mean())) < 0.05 and len(np.unique(lat.labels)) == 10
    # an unconditional draw is the plain N(0, I) z
    plain = C.draw_latents(jax.random.PRNGKey(0), 5, 62, C.Conditioning())
    np.testing.assert_array_equal(plain.z, jax.random.normal(jax.random.PRNGKey(0), (5, 62)))


def _log_softmax(a):
    a = np.asarray(a, np.float64)
    return a - a.max(-1, keepdims=True) - np.log(np.exp(a - a.max(-1, keepdims=True)).sum(-1, keepdims=True))


def test_aux_losses_against_hand_computation():
    rng = np.random.default_rng(0)
    aux_real, aux_fake = rng.normal(size=(6, 10)), rng.normal(size=(6, 10))
    y_real, y_fake = rng.integers(10, size=6), rng.integers(10, size=6)
    lat = C.Latents(z=jnp.zeros((6, 1)), labels=jnp.asarray(y_fake), continuous=jnp.zeros((6, 0)))
    acgan = C.Conditioning("acgan", num_classes=10, aux_weight=0.5)
    ce = lambda a, y: -np.mean(_log_softmax(a)[np.arange(6), y])  # noqa: E731
    d_loss, d_m = C.d_aux_loss(jnp.asarray(aux_real), jnp.asarray(aux_fake), jnp.asarray(y_real), lat, acgan)
    np.testing.assert_allclose(d_loss, 0.5 * (ce(aux_real, y_real) + ce(aux_fake, y_fake)), rtol=1e-5)
    g_loss, _ = C.g_aux_loss(jnp.asarray(aux_fake), lat, acgan)
    np.testing.assert_allclose(g_loss, 0.5 * ce(aux_fake, y_fake), rtol=1e-5)
    assert float(d_m["d_class_acc_real"]) == np.mean(aux_real.argmax(1) == y_real)

    info = C.Conditioning("infogan", num_classes=10, num_continuous=2, aux_weight=1.0)
    q = rng.normal(size=(6, 12))
    u = rng.uniform(-1, 1, size=(6, 2))
    lat = C.Latents(z=jnp.zeros((6, 1)), labels=jnp.asarray(y_fake), continuous=jnp.asarray(u, jnp.float32))
    nll = 0.5 * np.mean(np.sum((u - q[:, 10:]) ** 2, -1))
    loss, m = C.d_aux_loss(None, jnp.asarray(q), None, lat, info)
    np.testing.assert_allclose(loss, ce(q[:, :10], y_fake) + nll, rtol=1e-5)
    np.testing.assert_allclose(m["info_mi_cat"], np.log(10) - ce(q[:, :10], y_fake), rtol=1e-5)
    # a perfect Q attains the bound: CE -> 0 and MI estimate -> H(c) = log 10
    perfect = np.concatenate([100 * np.eye(10)[y_fake], u], -1)
    _, m = C.d_aux_loss(None, jnp.asarray(perfect, jnp.float32), None, lat, info)
    np.testing.assert_allclose(m["info_mi_cat"], np.log(10), atol=1e-4)
    np.testing.assert_allclose(m["info_nll"], 0, atol=1e-6)


def test_conditional_metrics_by_hand():
    labels = np.arange(20) % 10
    pred = labels.copy()
    pred[:5] = 0
    assert conditional_metrics(pred, labels, "label")["label_accuracy"] == pytest.approx(16 / 20)
    codes = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    digits = np.array([7, 7, 1, 3, 3, 3, 7, 7, 7])  # code 0 -> 7 (2/3), code 1 -> 3, code 2 -> 7
    m = conditional_metrics(digits, codes, "code")
    assert m["code_purity"] == pytest.approx(8 / 9) and m["code_digits"] == 2


# ----------------------------------------------------------------------------- the step


def _step_setup(conditioning, devices, reuse_fake=False, penalty="none"):
    """The gan family's compiled phases and initial state for a small conditional model."""
    cfg = base_config()
    cfg.model = _model_cfg()
    if penalty != "none":
        cfg.model.discriminator.norm = "none"
    cfg.model.conditioning, cfg.model.z_dim, cfg.model.num_classes = conditioning, 8, 10
    cfg.model.info_continuous = 2
    cfg.loss.penalty, cfg.train.reuse_fake = penalty, reuse_fake
    for net in ("g", "d"):
        cfg.optim[net].lr, cfg.optim[net].b1 = 1e-3, 0.9
    exp = build(cfg, mesh=make_mesh(jax.devices()[:devices]), donate=False)
    return exp.phases, exp.state


def _batch(k=2, b=8):
    x = jax.random.uniform(jax.random.PRNGKey(5), (k, b, 28, 28, 1), minval=-1, maxval=1)
    y = jax.random.randint(jax.random.PRNGKey(6), (k, b), 0, 10)
    return {"x": np.asarray(x), "label": np.asarray(y, np.int32)}


@pytest.mark.parametrize("conditioning", ["acgan", "infogan"])  # concat: test_real_labels_reach_...
def test_conditional_step_is_data_parallel(conditioning):
    batch = _batch()
    if conditioning == "infogan":
        batch = {"x": batch["x"]}
    results = []
    for devices in (1, 4):
        fns, state = _step_setup(conditioning, devices, reuse_fake=conditioning == "infogan")
        new, metrics = fns["iteration"](state, fns.shard_batch(batch), jnp.int32(0))
        results.append((new, metrics))
    (s1, m1), (s4, m4) = results
    assert set(m1) == set(m4)
    for k in m1:
        np.testing.assert_allclose(m1[k], m4[k], rtol=2e-4, atol=2e-5, err_msg=k)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-5), s1.nets["g"].params, s4.nets["g"].params)
    if conditioning == "acgan":
        assert {"d_class_ce_real", "d_class_ce_fake", "d_class_acc_real", "g_class_ce"} <= set(m1)
    if conditioning == "infogan":
        assert {"info_ce", "info_nll", "info_mi_cat", "g_info_ce"} <= set(m1)


def test_real_labels_reach_the_discriminator():
    fns, state = _step_setup("concat", 1)
    batch = _batch(k=1)
    _, m = fns["iteration"](state, fns.shard_batch(batch), jnp.int32(0))
    other = dict(batch, label=(batch["label"] + 1) % 10)
    _, m2 = fns["iteration"](state, fns.shard_batch(other), jnp.int32(0))
    assert float(m["d_real_logit"]) != float(m2["d_real_logit"])
    assert float(m["d_fake_logit"]) == float(m2["d_fake_logit"])  # fake labels are drawn, not taken from the batch


def test_penalty_with_a_label_conditioned_discriminator():
    fns, state = _step_setup("projection", 1, penalty="r1")
    _, m = fns["iteration"](state, fns.shard_batch(_batch()), jnp.int32(0))
    assert np.isfinite(float(m["d_penalty"])) and float(m["d_penalty"]) > 0


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize("field,value,words", [
    ("conditioning", "film", "model.conditioning"),
    ("num_classes", 1, "model.num_classes"),
    ("pack", 2, "model.pack"),
])
def test_bad_conditioning_configs_name_the_field(field, value, words):
    c = load_experiment("experiments/cgan.py", "quick")
    c.model[field] = value
    with pytest.raises(ConfigError, match=words):
        validate(c)
    c = load_experiment("experiments/projection.py", "quick")
    c.model.generator.name = "mlp"
    with pytest.raises(ConfigError, match="model.generator.name"):
        validate(c)


def test_unlabelled_data_is_a_clear_error(monkeypatch, tmp_path):
    from jgan.data import sources
    unlabelled = sources.ArraySource(np.zeros((50, 28, 28, 1), np.uint8), np.full(50, -1, np.int32))
    monkeypatch.setattr(sources, "make_source", lambda *a, **k: unlabelled)
    with pytest.raises(sources.DataError, match="model.num_classes"):
        train.run(load_experiment("experiments/cgan.py", "quick"), str(tmp_path))


# ----------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("experiment", ["cgan.py:quick", "cgan.py:conv,quick", "acgan.py:quick",
                                        "projection.py:quick"])
def test_label_conditioned_quick_variants_train_sample_and_evaluate(experiment, tmp_path, mnist_classifier_dir):
    workdir = tmp_path / "run"
    clf = f"--config.eval.classifier_workdir={mnist_classifier_dir}"
    r = launch("--config", f"experiments/{experiment}", "--workdir", str(workdir), "--config.eval.every=6", clf)
    assert r.returncode == 0, r.stderr[-3000:]
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert 0 <= records[-1]["eval/label_accuracy"] <= 1
    assert sorted(os.listdir(workdir / "samples")) == ["step_0000003.png", "step_0000006.png"]
    if experiment != "cgan.py:quick":  # the tools are the same for every label-conditioned G
        return
    r = launch("--config", f"experiments/{experiment}", "--workdir", str(workdir), "--mode", "sample",
               "--labels", "9,4,3,0,5", "--seeds", "0-2")
    assert r.returncode == 0, r.stderr[-3000:]
    path = r.stdout.strip().splitlines()[-1]
    assert path.endswith("labels_9-4-3-0-5_seeds_0-2_step_0000006.png")
    from PIL import Image
    assert Image.open(path).size == (5 * 30 + 2, 3 * 30 + 2)  # 5 labels x 3 seeds, 28 px + 2 px pad
    r = launch("--config", f"experiments/{experiment}", "--workdir", str(workdir), "--mode", "eval", clf)
    assert r.returncode == 0 and "label_accuracy" in r.stdout, r.stderr[-3000:]


def test_infogan_quick_trains_and_writes_traversals(tmp_path, mnist_classifier_dir):
    workdir = tmp_path / "run"
    clf = f"--config.eval.classifier_workdir={mnist_classifier_dir}"
    r = launch("--config", "experiments/infogan.py:quick", "--workdir", str(workdir), "--config.eval.every=6", clf)
    assert r.returncode == 0, r.stderr[-3000:]
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert 0.1 <= records[-1]["eval/code_purity"] <= 1 and 1 <= records[-1]["eval/code_digits"] <= 10
    assert np.isfinite(records[-2]["info_mi_cat"]) and np.isfinite(records[-2]["g_info_ce"])
    r = launch("--config", "experiments/infogan.py:quick", "--workdir", str(workdir), "--mode", "sample",
               "--seeds", "0-3")
    assert r.returncode == 0, r.stderr[-3000:]
    names = [os.path.basename(p) for p in r.stdout.split()]
    assert names == [f"traversal_{n}_seeds_0-3_step_0000006.png" for n in
                     ("categorical", "continuous0", "continuous1")]
    r = launch("--config", "experiments/infogan.py:quick", "--workdir", str(workdir), "--mode", "sample",
               "--labels", "1")
    assert r.returncode != 0 and "label-conditioned" in r.stderr


def test_infogan_traversal_latents():
    cond = C.Conditioning("infogan", num_classes=10, num_continuous=2)
    z = jax.random.normal(jax.random.PRNGKey(0), (3, 5))
    from jgan.sampling import TRAVERSAL_VALUES, conditional_grids
    grids = conditional_grids(cond, z, [0, 1, 12])
    cat = grids["traversal_categorical"]
    assert cat.z.shape == (30, 5 + 12)
    np.testing.assert_array_equal(cat.labels, np.tile(np.arange(10), 3))
    np.testing.assert_array_equal(cat.z[:10, :5], np.repeat(z[:1], 10, 0))
    c1 = grids["traversal_continuous1"]
    n = len(TRAVERSAL_VALUES)
    np.testing.assert_allclose(c1.continuous[:n, 1], TRAVERSAL_VALUES)
    np.testing.assert_array_equal(c1.continuous[:, 0], 0)
    np.testing.assert_array_equal(c1.labels, np.repeat([0, 1, 2], n))  # seed % K per row
