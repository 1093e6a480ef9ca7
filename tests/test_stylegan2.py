"""StyleGAN2: the modulated convolution against its written per-example formula (and the
demodulated weights' unit norm), the [1, 3, 3, 1] resampling against a NumPy transcription of
the reference's ``upfirdn2d`` and against the reference's other conv2d_resample path, the
path-length term against finite differences, the lazy schedules, the Adam correction and the
EMA decay against hand counts and closed forms, style mixing by hand; the phases (one trace
each, Adam's shared count, both regularisers in the gradient, the running path-length mean,
the EMA); bit-exact resume and 1 vs 4 devices; the quick run through launch.py; the paper
variants' networks against parameter arithmetic on the reference's layer list."""
import json
import os
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import adam_count, final_state, launch, load_experiment, np_conv_same, resumed_equals_straight

from jgan import steps, train
from jgan.config import ConfigError
from jgan.experiment import build, make_family
from jgan.families import stylegan2 as S
from jgan.models import stylegan2 as M


def _quick(**overrides):
    return load_experiment("experiments/stylegan2.py", "quick", **overrides)


def _small(**overrides):
    """The quick run on digits resized to 8 px (blocks 4 and 8): a small program to compile."""
    return _quick(**{"model.resolution": 8, "data.image_size": 8, "train.steps": 5, "eval.metrics": (),
                     **overrides})


# ----------------------------------------------------------------------------- layers


def _np_upfirdn2d(x, taps, up, down, pad, gain):
    """The reference's ``_upfirdn2d_ref`` in NumPy (NHWC, 2-D filter ``outer(f, f) / sum *
    gain``, convolved: the filter flipped), written with loops."""
    f = np.outer(taps, taps)
    f = f / f.sum() * gain
    n, h, w, c = x.shape
    y = np.zeros((n, h * up, w * up, c))
    y[:, ::up, ::up] = x
    y = np.pad(y, ((0, 0), pad, pad, (0, 0)))
    k = f.shape[0]
    out = np.zeros((n, y.shape[1] - k + 1, y.shape[2] - k + 1, c))
    ff = f[::-1, ::-1]
    for i in range(k):
        for j in range(k):
            out += ff[i, j] * y[:, i:i + out.shape[1], j:j + out.shape[2]]
    return out[:, ::down, ::down]


def test_upfirdn2d_up_and_down_sampling_match_the_reference_transcription():
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(M.upsample2d(jnp.asarray(x))),
                               _np_upfirdn2d(x, M.FILTER, 2, 1, (2, 1), 4.0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(M.downsample2d(jnp.asarray(x))),
                               _np_upfirdn2d(x, M.FILTER, 1, 2, (1, 1), 1.0), rtol=1e-5, atol=1e-6)
    assert M.upsample2d(jnp.asarray(x)).shape == (2, 12, 12, 3) and M.downsample2d(jnp.asarray(x)).shape == (2, 3, 3, 3)
    # DC gain 1: a constant stays constant away from the border
    ones = jnp.ones((1, 8, 8, 1))
    np.testing.assert_allclose(np.asarray(M.upsample2d(ones))[0, 2:-2, 2:-2], 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(M.downsample2d(ones))[0, 1:-1, 1:-1], 1.0, rtol=1e-6)


def test_resampling_convs_equal_the_references_other_path():
    """Up: the reference's fast path (a stride-2 transposed conv, then the filter padded by
    1 with gain 4) equals the generic one jgan uses (both correlate with the kernel as stored;
    the reference flips it in both, an equivalent parametrisation); down: conv, filter, then every 2nd pixel
    (the generic path) equals filter then stride-2 conv (jgan's, the fast path)."""
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(2, 8, 8, 3)).astype(np.float32))
    w = jnp.asarray(rng.normal(size=(3, 3, 3, 4)).astype(np.float32))
    up = M.conv2d_resample(x, w, up=2, padding=1)
    fast = jax.lax.conv_transpose(x, w, (2, 2), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    fast = M.upfirdn2d(fast, pad=(1, 1), gain=4.0)
    assert up.shape == (2, 16, 16, 4)
    np.testing.assert_allclose(np.asarray(up), np.asarray(fast), rtol=1e-4, atol=1e-4)
    down = M.conv2d_resample(x, w, down=2, padding=1)
    dn = ("NHWC", "HWIO", "NHWC")
    generic = jax.lax.conv_general_dilated(jnp.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))), w, (1, 1), "VALID",
                                           dimension_numbers=dn)
    generic = M.upfirdn2d(generic, down=2)
    assert down.shape == (2, 4, 4, 4)
    np.testing.assert_allclose(np.asarray(down), np.asarray(generic), rtol=1e-4, atol=1e-4)
    skip = M.conv2d_resample(x, w[1:2, 1:2], down=2)  # the 1x1 skip: filter, every 2nd pixel, 1x1 conv
    np.testing.assert_allclose(np.asarray(skip), np.einsum("nhwc,cd->nhwd", np.asarray(M.downsample2d(x)),
                                                           np.asarray(w[1, 1])), rtol=1e-4, atol=1e-5)


def test_modulated_conv_is_each_examples_own_demodulated_weights():
    """The paper's Eq. 1-3: ``w'_{ijk} = s_i w_{ijk}``, ``w''_{ijk} = w'_{ijk} / sqrt(sum_{i,k}
    w'^2 + eps)``, convolved per example; the demodulated weights have unit norm."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 5, 5, 4)).astype(np.float32)
    w = rng.normal(size=(3, 3, 4, 6)).astype(np.float32)
    s = rng.normal(1.0, 0.5, size=(3, 4)).astype(np.float32)
    noise = rng.normal(size=(3, 5, 5, 1)).astype(np.float32)
    got = np.asarray(M.modulated_conv2d(jnp.asarray(x), jnp.asarray(w), jnp.asarray(s), jnp.asarray(noise), padding=1))
    for n in range(3):
        wn = w.astype(np.float64) * s[n][None, None, :, None]
        wn = wn / np.sqrt((wn ** 2).sum(axis=(0, 1, 2), keepdims=True) + 1e-8)
        np.testing.assert_allclose((wn ** 2).sum(axis=(0, 1, 2)), 1.0, rtol=1e-6)
        np.testing.assert_allclose(got[n], np_conv_same(x[n:n + 1], wn)[0] + noise[n], rtol=1e-4, atol=1e-4)
    no_demod = M.modulated_conv2d(jnp.asarray(x), jnp.asarray(w), jnp.asarray(s), padding=1, demodulate=False)
    for n in range(3):
        np.testing.assert_allclose(np.asarray(no_demod[n]),
                                   np_conv_same(x[n:n + 1], w * s[n][None, None, :, None])[0], rtol=1e-4, atol=1e-4)


def test_equalised_dense_layer_with_a_learning_rate_multiplier():
    x = np.random.default_rng(3).normal(size=(4, 200)).astype(np.float32)
    layer = M.FullyConnected(300, "lrelu", lr_mul=0.01, bias_init=0.5)
    v = layer.init(jax.random.key(0), x)
    w, b = np.asarray(v["params"]["kernel"]), np.asarray(v["params"]["bias"])
    assert abs(w.std() * 0.01 - 1) < 0.02 and np.all(b == 0.5)  # N(0, 1 / lr_mul^2), bias_init
    pre = x @ w * (0.01 / np.sqrt(200)) + b * 0.01
    np.testing.assert_allclose(np.asarray(layer.apply(v, x)), np.where(pre >= 0, pre, 0.2 * pre) * np.sqrt(2),
                               rtol=1e-4, atol=1e-5)
    z = np.random.default_rng(4).normal(size=(2, 8)).astype(np.float32) * 3
    np.testing.assert_allclose(np.asarray(M.normalize_2nd_moment(jnp.asarray(z))),
                               z / np.sqrt((z ** 2).mean(-1, keepdims=True) + 1e-8), rtol=1e-5)


def test_layer_bookkeeping_and_the_generators_w_avg_variable():
    assert M.num_ws(32) == 8 and M.noise_resolutions(32) == [4, 8, 8, 16, 16, 32, 32]
    assert M.num_ws(1024) == 18  # the reference's 18 styles at 1024 px
    g = M.StyleGAN2Generator(resolution=8, channels=1, z_dim=4, w_dim=4, mapping_layers=1, channel_base=64,
                             channel_max=8)
    z = jnp.ones((2, 4))
    v = g.init(jax.random.key(0), z)
    assert set(v) == {"params", "batch_stats"} and v["batch_stats"]["w_avg"].shape == (4,)
    w = g.apply(v, z, method="map")
    v2 = {"params": v["params"], "batch_stats": {"w_avg": jnp.full((4,), 2.0)}}
    np.testing.assert_allclose(np.asarray(g.apply(v2, z, 0.5, method="map")), 2.0 + 0.5 * (np.asarray(w) - 2.0),
                               rtol=1e-6)
    np.testing.assert_allclose(np.asarray(g.apply(v2, z, 0.0, method="map")), 2.0)
    assert g.apply(v, z).shape == (2, 8, 8, 1)


# ----------------------------------------------------------------------------- objective pieces


def test_path_lengths_against_finite_differences():
    """``sqrt(mean_layers sum_w (J^T y)^2)`` with J^T y by central differences in float64."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(5)
        a = jnp.asarray(rng.normal(size=(3, 4, 16)))
        ws = jnp.asarray(rng.normal(size=(2, 3, 4)))
        y = jnp.asarray(rng.normal(size=(2, 4, 4, 1)))

        def synth(v):
            return jnp.tanh(jnp.einsum("nlw,lwp->np", v, a)).reshape(-1, 4, 4, 1) ** 2

        got = np.asarray(S.path_lengths(synth, ws, y))
        f = lambda v: float(jnp.sum(synth(v) * y))  # noqa: E731
        eps = 1e-6
        jty = np.zeros(ws.shape)
        for idx in np.ndindex(*ws.shape):
            e = np.zeros(ws.shape)
            e[idx] = eps
            jty[idx] = (f(ws + e) - f(ws - e)) / (2 * eps)
        np.testing.assert_allclose(got, np.sqrt((jty ** 2).sum(axis=2).mean(axis=1)), rtol=1e-6)


def test_lazy_schedules_adam_correction_and_ema_decay_by_hand():
    lazy = S.Lazy(pl_interval=4, r1_interval=16)
    assert [t for t in range(40) if lazy.g_reg(t)] == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]
    assert [t for t in range(40) if lazy.d_reg(t)] == [0, 16, 32]
    assert not any(S.Lazy(0, 0).g_reg(t) or S.Lazy(0, 0).d_reg(t) for t in range(20))
    cfg = load_experiment("experiments/stylegan2.py")
    fam = make_family(cfg)
    plans = [tuple(name for name, _ in fam.schedule(t)) for t in range(17)]
    assert plans[0] == plans[16] == ("g_reg", "d_reg") and plans[4] == ("g_reg", "d") and plans[1] == ("g", "d")
    assert [n for _, n in fam.schedule(0)] == [0, 1]  # G's phases read no real batch
    d = S.lazy_optimizer(cfg.optim.d, 16)
    assert d.lr == pytest.approx(0.0025 * 16 / 17) and d.b1 == 0 and d.b2 == pytest.approx(0.99 ** (16 / 17))
    g = S.lazy_optimizer(cfg.optim.g, 4)
    assert g.lr == pytest.approx(0.002) and g.b2 == pytest.approx(0.99 ** 0.8)
    assert S.lazy_optimizer(cfg.optim.g, 0).lr == 0.0025 and cfg.optim.d.lr == 0.0025  # the config is not changed
    # half-life: after ema_kimg * 1000 images the old average weighs 1/2
    beta = float(S.ema_beta(1000, 32, 10.0, 0.0))
    assert beta ** (10_000 / 32) == pytest.approx(0.5, rel=1e-5)
    assert float(S.ema_beta(0, 32, 10.0, 0.05)) == 0.0  # ramp-up: a copy at the first iteration
    assert float(S.ema_beta(10, 32, 10.0, 0.05)) == pytest.approx(0.5 ** (32 / 16))  # 320 images * 0.05
    assert float(S.ema_beta(10 ** 6, 32, 10.0, 0.05)) == pytest.approx(beta)


def test_style_mixing_by_hand():
    w, w2 = jnp.zeros((2, 3)), jnp.ones((2, 3))
    ws = np.asarray(S.mix_styles(w, w2, 3, 8))
    assert ws.shape == (2, 8, 3) and np.all(ws[:, :3] == 0) and np.all(ws[:, 3:] == 1)
    assert np.all(np.asarray(S.mix_styles(w, w2, 8, 8)) == 0)


# ----------------------------------------------------------------------------- phases


def test_phases_trace_once_share_adam_and_put_both_regularisers_in_the_gradient():
    """Five iterations on 8 px (quick: path length every 2, R1 every 4), phase by phase on one
    device: each of the four phases is traced once (``JGAN_MAX_TRACES=1``, set by conftest,
    fails a second trace); Adam's count rises by 2 at a lazy step
    (one shared state); D after ``d_reg`` differs from D after ``d`` from the same state,
    and G after ``g_reg`` from G after ``g`` (each regulariser is in a gradient); the running
    path-length mean follows ``m + 0.01 (mean a - m)``; the EMA is a copy at iteration 0
    (ramp-up) and ``g + beta (ema - g)`` after, with G's w_avg copied."""
    cfg = _small()
    exp = build(cfg, mesh=steps.make_mesh(jax.devices()[:1]), donate=False)
    fam, state = exp.family, exp.state
    from jgan.data import pipeline
    batch = pipeline.load_batch(fam.source(), np.arange(16), image_size=8, channels=1)
    reals = exp.phases.shard_batch({"x": batch["x"][None]})
    empty = exp.phases.shard_batch({"x": batch["x"][None][:0]})
    counts, pl_means, lengths, ema_before = [], [], [], None
    for t in range(5):
        plan = fam.schedule(t)
        for name, n in plan:
            before = state
            state, m = exp.phases[name](state, reals if n else empty, jnp.int32(0))
            if t == 0 and name in ("g_reg", "d_reg"):  # the same state without the regulariser
                plain, _ = exp.phases[name[0]](before, reals if n else empty, jnp.int32(0))
                changed = jax.tree.leaves(jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))),
                                                       state.nets[name[0]].params, plain.nets[name[0]].params))
                assert any(changed), name
            if name == "g_reg":
                lengths.append(float(m["pl_length"]))
            if name.startswith("g"):
                pl_means.append(float(m["pl_mean"]))
        host = jax.device_get(state)
        counts.append((adam_count(host.nets["g"]), adam_count(host.nets["d"])))
        if t == 0:
            jax.tree.map(np.testing.assert_array_equal, host.ema["g"]["params"], host.nets["g"].params)
        if t == 1:
            prev, beta = ema_before, float(m["ema_beta"])
            assert beta == pytest.approx(0.5 ** (16 / (16 * 0.05)))
            jax.tree.map(lambda e, p, g: np.testing.assert_allclose(e, g + beta * (p - g), rtol=1e-5, atol=1e-7),
                         host.ema["g"]["params"], prev, host.nets["g"].params)
        ema_before = host.ema["g"]["params"]
        np.testing.assert_array_equal(host.ema["g"]["batch_stats"]["w_avg"], host.nets["g"].batch_stats["w_avg"])
        assert np.all(np.isfinite(host.nets["g"].batch_stats["w_avg"])) and float(m["d_loss"]) > 0
    assert [c[0] for c in counts] == [2, 3, 5, 6, 8] and [c[1] for c in counts] == [2, 3, 4, 5, 7]
    assert pl_means[0] == pytest.approx(0.01 * lengths[0], rel=1e-5)
    assert pl_means[1] == pl_means[0]  # unchanged by a plain G step
    assert pl_means[2] == pytest.approx(pl_means[0] + 0.01 * (lengths[1] - pl_means[0]), rel=1e-5)
    assert float(np.abs(jax.device_get(state).nets["g"].batch_stats["w_avg"]).sum()) > 0


# ----------------------------------------------------------------------------- runs


def test_resume_is_bit_exact_and_four_devices_match_one(tmp_path):
    cfg = _small()
    a = resumed_equals_straight(cfg, _small(**{"train.steps": 1}), tmp_path)  # stops after a lazy iteration
    assert len(jax.devices()) == 4
    one = steps.make_mesh(jax.devices()[:1])
    train.run(cfg, str(tmp_path / "one"), mesh=one)
    c = final_state(cfg, tmp_path / "one", one)
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5),
                 ({n: c.nets[n].params for n in "gd"}, c.aux, c.nets["g"].batch_stats),
                 ({n: a.nets[n].params for n in "gd"}, a.aux, a.nets["g"].batch_stats))


def test_quick_run_through_launch_evaluates_and_writes_the_grids(tmp_path, mnist_classifier_dir, monkeypatch):
    """launch.py trains, evaluates and writes the four grids; ``--mode sample`` at a
    truncation; ``--mode directions`` in W (shapes and ranges: a 6-iteration G draws noise)."""
    run = tmp_path / "run"
    r = launch("--config", "experiments/stylegan2.py:quick", "--workdir", str(run),
               f"--config.eval.classifier_workdir={mnist_classifier_dir}", "--config.eval.every=6")
    assert r.returncode == 0, r.stderr[-3000:]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["eval/fid"] > 0
    assert "r1_penalty" in records[0] and "pl_penalty" in records[0]  # lazy steps' metrics are logged
    from PIL import Image
    names = set(os.listdir(run / "samples"))
    assert {"step_0000006.png", "ema_step_0000006.png", "ema_mixing_step_0000006.png",
            "ema_truncation_step_0000006.png"} <= names
    assert Image.open(run / "samples" / "ema_mixing_step_0000006.png").size == (7 * 34 + 2,) * 2
    assert Image.open(run / "samples" / "ema_truncation_step_0000006.png").size == (6 * 34 + 2, 8 * 34 + 2)
    from jgan.experiment import restore
    family, state = restore(_quick(**{"eval.classifier_workdir": mnist_classifier_dir, "eval.psi": 0.5}), str(run))
    (path,) = family.modes()["sample"](state, str(run), types.SimpleNamespace(seeds="0-3", labels=None, frames=8))
    assert path.endswith("_psi0.5_step_0000006.png") and Image.open(path).size == (2 * 34 + 2,) * 2
    from jgan import edits
    monkeypatch.setattr(edits, "POOL", 200)
    monkeypatch.setattr(edits, "REPORT", 50)
    space = family.latent_space(state)
    w = np.asarray(space.draw(jax.random.key(0), 3))
    assert w.shape == (3, 16) and space.decode(w).shape == (3, 28, 28, 1)
    paths = family.modes()["directions"](state, str(run), types.SimpleNamespace(seeds="0-1", labels=None, frames=8))
    report = json.loads(open(paths[-1]).read())
    assert all(0 <= k <= 1 for eff in report["directions"].values() for k in eff["digit_kept"])


def _reference_parameter_counts(res, c, z, w, layers, base, cmax):
    """G's and D's parameter counts from the reference's layer list (networks.py), by hand."""
    nf = lambda r: min(base // r, cmax)  # noqa: E731
    g = z * w + w + (layers - 1) * (w * w + w)                     # mapping
    synth_layer = lambda cin, cout: (w * cin + cin) + 9 * cin * cout + 1 + cout  # noqa: E731 affine, weight, noise, bias
    to_rgb = lambda cin: (w * cin + cin) + cin * c + c  # noqa: E731
    g += 16 * nf(4) + synth_layer(nf(4), nf(4)) + to_rgb(nf(4))
    r = 8
    while r <= res:
        g += synth_layer(nf(r // 2), nf(r)) + synth_layer(nf(r), nf(r)) + to_rgb(nf(r))
        r *= 2
    d = c * nf(res) + nf(res)                                      # from_rgb
    r = res
    while r >= 8:
        d += 9 * nf(r) ** 2 + nf(r) + 9 * nf(r) * nf(r // 2) + nf(r // 2) + nf(r) * nf(r // 2)  # conv0, conv1, skip
        r //= 2
    d += 9 * (nf(4) + 1) * nf(4) + nf(4) + 16 * nf(4) * nf(4) + nf(4) + nf(4) + 1  # epilogue
    return g, d


@pytest.mark.parametrize("variant", ["cifar10", "celeba128"])
def test_paper_variants_build_the_reference_networks(variant):
    """From the config alone (shapes only): the parameter counts equal arithmetic on the
    reference's layer list at its widths (D's 'orig' architecture for cifar10 has no skips)."""
    cfg = load_experiment("experiments/stylegan2.py", variant)
    fam = make_family(cfg)
    state = jax.eval_shape(fam.init_state)
    m = cfg.model
    g, d = _reference_parameter_counts(m.resolution, 3, m.z_dim, m.w_dim, m.mapping_layers, m.channel_base,
                                       m.channel_max)
    if m.d_architecture == "orig":
        nf = lambda r: min(m.channel_base // r, m.channel_max)  # noqa: E731
        d -= sum(nf(r) * nf(r // 2) for r in M.block_resolutions(m.resolution)[1:])
    count = lambda tree: sum(int(np.prod(v.shape)) for v in jax.tree.leaves(tree))  # noqa: E731
    assert (count(state.nets["g"].params), count(state.nets["d"].params)) == (g, d)
    assert fam.num_ws == 2 * len(M.block_resolutions(m.resolution))


@pytest.mark.parametrize("override,field", [
    ({"model.resolution": 24}, "model.resolution"),
    ({"model.resolution": 16}, "model.resolution"),  # smaller than the 28 px data
    ({"model.d_architecture": "skip"}, "model.d_architecture"),
    ({"loss.style_mixing": 1.5}, "loss.style_mixing"),
    ({"train.d_steps": 2}, "train.d_steps"),
    ({"model.w_avg_beta": 1.0}, "model.w_avg_beta"),
])
def test_bad_config_names_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        make_family(_quick(**override))
