"""ProGAN: the layers against their written formulas (equalised learning rate, pixel norm,
minibatch stddev, box filter), the growing schedule and the optimiser resets against a hand
count, the fade's end points against the neighbouring stages, the D objective against a
second implementation, the state's structure across stages with one compiled phase per
stage, bit-exact resume across a stage change, 1 vs 4 devices, and the quick run through
launch.py (evaluation, one grid per resolution, sample mode)."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import adam_count, final_state, launch, load_experiment, np_conv_same, resumed_equals_straight

from jgan import steps, train
from jgan.config import ConfigError
from jgan.experiment import build, make_family
from jgan.families import progan as P
from jgan.models.progan import (EqualizedConv, EqualizedDense, ProGANDiscriminator, ProGANGenerator,
                                downscale2d, minibatch_stddev, pixel_norm, upsample_nearest)


def _quick(**overrides):
    return load_experiment("experiments/progan.py", "quick", **{"eval.every": 0, **overrides})


def _small(**overrides):
    """The quick run on digits resized to 8 px: two stages (4, 8), two compiles."""
    return _quick(**{"model.resolution": 8, "data.image_size": 8, "train.steps": 6, **overrides})


# ----------------------------------------------------------------------------- layers


def test_equalised_layers_scale_unit_normal_weights_by_he_constant():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 5, 3)).astype(np.float32)
    layer = EqualizedConv(4, 3, gain=np.sqrt(2))
    v = layer.init(jax.random.key(0), x)
    w = np.asarray(v["params"]["kernel"])
    b = rng.normal(size=4).astype(np.float32)
    got = layer.apply({"params": {"kernel": w, "bias": b}}, x)
    want = np_conv_same(x, w * np.sqrt(2) / np.sqrt(3 * 3 * 3)) + b
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)
    assert np.all(np.asarray(v["params"]["bias"]) == 0)

    dense = EqualizedDense(300, gain=1.0)
    vd = dense.init(jax.random.key(1), x)
    wd = np.asarray(vd["params"]["kernel"])
    assert wd.shape == (75, 300) and abs(wd.std() - 1) < 0.02 and abs(wd.mean()) < 0.02  # N(0, 1), not He
    np.testing.assert_allclose(np.asarray(dense.apply(vd, x)), x.reshape(2, -1) @ wd / np.sqrt(75), rtol=1e-4,
                               atol=1e-5)


def test_pixel_norm_divides_by_the_second_moment_not_the_variance():
    x = np.random.default_rng(1).normal(size=(3, 2, 2, 8)).astype(np.float32)
    y = np.asarray(pixel_norm(jnp.asarray(x)))
    np.testing.assert_allclose(y, x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-8), rtol=1e-5)
    const = np.full((1, 1, 1, 4), 3.0, np.float32)  # a variance norm would give 0 / 0
    np.testing.assert_allclose(np.asarray(pixel_norm(jnp.asarray(const))), np.ones((1, 1, 1, 4)), rtol=1e-6)


def test_minibatch_stddev_by_hand_per_group_of_consecutive_examples():
    x = np.random.default_rng(2).normal(size=(8, 3, 3, 2)).astype(np.float32)
    got = np.asarray(minibatch_stddev(jnp.asarray(x), 4))
    assert got.shape == (8, 3, 3, 3)
    np.testing.assert_array_equal(got[..., :2], x)
    for g in range(2):
        members = x[4 * g:4 * g + 4].astype(np.float64)
        want = np.sqrt(members.var(axis=0) + 1e-8).mean()  # population variance over the group
        np.testing.assert_allclose(got[4 * g:4 * g + 4, ..., 2], want, rtol=1e-5)
    # a group depends on its own members only: each half of the batch alone gives the same
    np.testing.assert_allclose(np.asarray(minibatch_stddev(jnp.asarray(x[4:]), 4)), got[4:], rtol=1e-6)


def test_box_filter_padding_and_the_blended_reals():
    x = np.random.default_rng(3).uniform(-1, 1, (2, 8, 8, 1)).astype(np.float32)
    want = np.zeros((2, 4, 4, 1), np.float32)
    for i in range(4):
        for j in range(4):
            want[:, i, j] = x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean(axis=(1, 2))
    np.testing.assert_allclose(np.asarray(downscale2d(jnp.asarray(x))), want, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(upsample_nearest(jnp.asarray(want)))[:, ::2, ::2], want)
    # reals at 4 px: the 2x box filter; during a fade blended with their own 2x blur
    at4 = np.asarray(P.reals_at(jnp.asarray(x), 4, 0.5))
    np.testing.assert_allclose(at4, want, rtol=1e-6)
    blur = np.asarray(upsample_nearest(downscale2d(jnp.asarray(x))))
    np.testing.assert_allclose(np.asarray(P.reals_at(jnp.asarray(x), 8, 0.25)), 0.25 * x + 0.75 * blur, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(np.asarray(P.reals_at(jnp.asarray(x), 8, 1.0)), x)
    digits = np.random.default_rng(4).uniform(-1, 1, (2, 28, 28, 1)).astype(np.float32)
    padded = np.asarray(P.pad_to(jnp.asarray(digits), 32))
    assert padded.shape == (2, 32, 32, 1) and np.all(padded[:, :2] == -1) and np.all(padded[:, :, -2:] == -1)
    np.testing.assert_array_equal(P.crop_to(padded, 28), digits)


# ----------------------------------------------------------------------------- growth


def test_growth_schedule_and_resets_by_hand():
    g = P.Growth(stages=3, stable=3, fade=2)
    # 4x4 for 3, then (fade 2 + stable 3) at 8 and at 16; the last stage runs on
    assert [g.stage_at(t) for t in range(15)] == [0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2]
    assert [float(g.alpha(t, g.stage_at(t))) for t in range(10)] == [1, 1, 1, 0, 0.5, 1, 1, 1, 0, 0.5]
    assert g.resets(0) == () and g.resets(1) == (3, 5) and g.resets(2) == (8, 10)
    cfg = _quick()
    fam = make_family(cfg)
    assert [fam.schedule(t)[0][0] for t in range(14)] == ["stage0"] * 2 + ["stage1"] * 4 + ["stage2"] * 4 + [
        "stage3"] * 4


def test_fade_end_points_are_the_neighbouring_stages():
    g = ProGANGenerator(resolution=8, channels=1, fmap_base=32, fmap_max=16)
    z = jax.random.normal(jax.random.key(0), (4, 16))
    v = g.init(jax.random.key(1), z)
    ga = jax.jit(g.apply, static_argnums=2)
    np.testing.assert_allclose(np.asarray(ga(v, z, 1, 0.0)), np.asarray(upsample_nearest(ga(v, z, 0, 1.0))),
                               rtol=1e-5, atol=1e-6)
    # at alpha 1 the previous stage's to_rgb gets no gradient
    grads = jax.jit(jax.grad(lambda p: jnp.sum(g.apply({"params": p}, z, 1, 1.0) ** 2)))(v["params"])
    assert np.all(np.asarray(grads["to_rgb_4"]["kernel"]) == 0) and np.any(np.asarray(grads["to_rgb_8"]["kernel"]))
    d = ProGANDiscriminator(resolution=8, fmap_base=32, fmap_max=16)
    x = jax.random.uniform(jax.random.key(2), (4, 8, 8, 1), minval=-1, maxval=1)
    vd = d.init(jax.random.key(3), x)
    da = jax.jit(d.apply)
    np.testing.assert_allclose(np.asarray(da(vd, x, 0.0)), np.asarray(da(vd, downscale2d(x), 1.0)),
                               rtol=1e-5, atol=1e-6)
    # every stage's parameters exist from init, in both networks
    assert {"to_rgb_4", "to_rgb_8", "conv0_8", "conv1_8", "conv_4", "dense_4"} == set(v["params"])
    assert {"from_rgb_4", "from_rgb_8", "conv0_8", "conv1_8", "conv_4", "dense0_4", "dense1_4"} == set(vd["params"])


# ----------------------------------------------------------------------------- the phases


def _check_d_loss_is_the_written_wgan_gp_plus_drift(fam, s3, x8, m):
    """Iteration 3 (stage 1, alpha 0.5) against the objective written here from the
    reference's loss.py: the same draws, D's gradient penalty through jax.grad of the summed
    scores, the reals box-filtered and blended by hand."""
    key = jax.random.fold_in(s3.rng, 3)
    alpha = 0.5
    blur = np.repeat(np.repeat(x8.reshape(16, 4, 2, 4, 2, 1).mean(axis=(2, 4)), 2, 1), 2, 2)
    real = jnp.asarray(alpha * x8 + (1 - alpha) * blur, jnp.float32)
    z = jax.random.normal(jax.random.fold_in(key, 0), (16, fam.z_dim))
    u = jax.random.uniform(jax.random.fold_in(key, 1), (16, 1, 1, 1))
    fake = jax.jit(lambda p, z: fam.g_model.apply({"params": p}, z, 1, alpha))(s3.nets["g"].params, z)
    D = jax.jit(lambda x: fam.d_model.apply({"params": s3.nets["d"].params}, x, alpha))
    mixed = real + (fake - real) * u
    norms = jnp.sqrt(jnp.sum(jax.jit(jax.grad(lambda a: jnp.sum(D(a))))(mixed) ** 2, axis=(1, 2, 3)))
    rs, fs = D(real), D(fake)
    want = jnp.mean(fs) - jnp.mean(rs) + 10.0 * jnp.mean((norms - 1.0) ** 2) + 1e-3 * jnp.mean(rs ** 2)
    np.testing.assert_allclose(float(m["d_loss"]), float(want), rtol=1e-4)
    np.testing.assert_allclose(float(m["d_drift"]), float(1e-3 * jnp.mean(rs ** 2)), rtol=1e-4)
    assert float(m["alpha"]) == 0.5 and float(m["stage"]) == 1.0


def test_d_loss_formula_by_hand():
    loss, gp, eps = P.progan_d_loss(jnp.array([1.0, 2.0]), jnp.array([0.5, -1.0]), jnp.array([0.5, 2.0]),
                                    gp_weight=10.0, gp_target=2.0, drift=0.1)
    assert np.isclose(float(gp), 10 / 4 * (1.5 ** 2 + 0) / 2) and np.isclose(float(eps), 0.1 * 2.5)
    assert np.isclose(float(loss), -0.25 - 1.5 + float(gp) + float(eps))


def test_one_compiled_phase_per_stage_resets_and_a_state_of_fixed_structure(monkeypatch):
    """6 iterations of two stages, phase by phase: each stage's phase is traced once; Adam's count
    restarts at each fade's first iteration and the first after it (hand count); the state's
    structure never changes and a stage's new block is untouched before its fade; the D loss
    of iteration 3 is the written objective."""
    traces = {}
    phases = P.ProGAN.phases

    def counting(self):
        def wrap(name, fn):
            def traced(*a):
                traces[name] = traces.get(name, 0) + 1
                return fn(*a)
            traced.__name__ = name
            return traced
        return {name: wrap(name, fn) for name, fn in phases(self).items()}

    monkeypatch.setattr(P.ProGAN, "phases", counting)
    cfg = _small()
    exp = build(cfg, mesh=steps.make_mesh(jax.devices()[:1]), donate=False)
    fam, state = exp.family, exp.state
    init = jax.device_get(state)
    structure = jax.tree.structure(init)
    src = fam.source()
    from jgan.data import pipeline
    batch = pipeline.load_batch(src, np.arange(16), image_size=8, channels=1)
    sharded = exp.phases.shard_batch({"x": batch["x"][None]})
    counts, touched = [], {}
    for t in range(6):
        (name, _), = fam.schedule(t)
        before = jax.device_get(state) if t == 3 else None
        state, metrics = exp.phases[name](state, sharded, jnp.int32(0))
        if t == 3:
            _check_d_loss_is_the_written_wgan_gp_plus_drift(fam, before, batch["x"], metrics)
        host = jax.device_get(state)
        assert jax.tree.structure(host) == structure
        counts.append((adam_count(host.nets["g"]), adam_count(host.nets["d"])))
        touched[t] = not np.array_equal(host.nets["g"].params["conv0_8"]["kernel"],
                                        init.nets["g"].params["conv0_8"]["kernel"])
        assert np.isfinite(float(metrics["d_loss"]))
    assert traces == {"stage0": 1, "stage1": 1}
    resets = [0, 2, 4]  # the fade starts at 2 and ends at 4
    want = [t + 1 - max(r for r in resets if r <= t) for t in range(6)]
    assert counts == [(c, c) for c in want] == [(1, 1), (2, 2), (1, 1), (2, 2), (1, 1), (2, 2)]
    # the 8 px block gets its first gradient in its fade's second iteration (alpha 0 at the first)
    assert [touched[t] for t in range(6)] == [False] * 3 + [True] * 3


# ----------------------------------------------------------------------------- runs


def test_resume_across_a_stage_change_is_bit_exact_and_four_devices_match_one(tmp_path):
    cfg = _small()
    # the first leg stops in stage 0: the stage change and both resets come after the resume
    a = resumed_equals_straight(cfg, _small(**{"train.steps": 1}), tmp_path)
    assert len(jax.devices()) == 4
    one = steps.make_mesh(jax.devices()[:1])
    train.run(cfg, str(tmp_path / "one"), mesh=one)
    c = final_state(cfg, tmp_path / "one", one)
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5),
                 {n: c.nets[n].params for n in "gd"}, {n: a.nets[n].params for n in "gd"})


def test_quick_run_through_launch_evaluates_and_writes_a_grid_per_resolution(tmp_path, mnist_classifier_dir):
    run = tmp_path / "run"
    args = ["--config", "experiments/progan.py:quick", "--workdir", str(run),
            f"--config.eval.classifier_workdir={mnist_classifier_dir}"]
    r = launch(*args, "--config.eval.every=14", "--config.train.sample_every=2")
    assert r.returncode == 0, r.stderr[-3000:]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    e = [rec for rec in records if "eval/fid" in rec][-1]
    assert e["eval/stage/resolution"] == 32 and e["eval/stage/alpha"] == 1.0 and e["eval/fid"] > 0
    names = sorted(os.listdir(run / "samples"))
    from PIL import Image
    for res, step in ((4, 2), (8, 4), (16, 8), (32, 14)):
        grid = Image.open(run / "samples" / f"ema_res{res:03d}_step_{step:07d}.png")
        assert grid.size == (4 * (res + 2) + 2,) * 2, (res, names)  # 16 samples at the stage's size
    import types

    from jgan.experiment import restore
    family, state = restore(_quick(**{"eval.classifier_workdir": mnist_classifier_dir}), str(run))
    (path,) = family.modes()["sample"](state, str(run), types.SimpleNamespace(seeds="0-3", labels=None, frames=8))
    assert Image.open(path).size == (2 * 34 + 2,) * 2


@pytest.mark.parametrize("variant,resolution,latent,params", [
    ("cifar10", 32, 512, 20_727_308), ("celeba128", 128, 512, 22_941_074)])
def test_paper_variants_build_the_reference_networks(variant, resolution, latent, params):
    """The accelerator variants' networks from the config alone (shapes only, no data): the
    reference's widths min(8192 / 2**s, 512) and latent 512; G's parameter count is
    independent arithmetic on those widths."""
    fam = make_family(load_experiment("experiments/progan.py", variant))
    state = jax.eval_shape(fam.init_state)
    assert fam.resolution == resolution and fam.z_dim == latent
    nf = [min(8192 // 2 ** s, 512) for s in range(fam.stages + 1)]
    c = 3
    want = latent * nf[1] * 16 + nf[1] * 16 + 9 * nf[1] * nf[1] + nf[1]  # dense_4, conv_4
    want += sum(9 * nf[s] * nf[s + 1] + nf[s + 1] + 9 * nf[s + 1] ** 2 + nf[s + 1] for s in range(1, fam.stages))
    want += sum(nf[s + 1] * c + c for s in range(fam.stages))  # every stage's to_rgb
    assert sum(int(np.prod(v.shape)) for v in jax.tree.leaves(state.nets["g"].params)) == want == params


@pytest.mark.parametrize("override,field", [
    ({"model.resolution": 24}, "model.resolution"),
    ({"model.resolution": 16}, "model.resolution"),  # smaller than the 28 px data
    ({"train.d_steps": 5}, "train.d_steps"),
    ({"train.stable_steps": 0}, "train.stable_steps"),
    ({"loss.gp_target": 0.0}, "loss.gp_target"),
])
def test_bad_config_names_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        make_family(_quick(**override))
