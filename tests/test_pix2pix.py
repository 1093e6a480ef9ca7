"""pix2pix: augmentation and losses against independent computations, the quick run through
launch.py (grids, evaluation, eval mode), bit-exact resume, 1 vs 4 devices."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import final_state, launch, load_experiment, on_mesh, resumed_equals_straight

from jgan import losses, steps, train
from jgan.config import ConfigError
from jgan.experiment import build, make_family
from jgan.families import pix2pix as P


def _quick(**overrides):
    return load_experiment("experiments/pix2pix.py", "quick", **{"eval.every": 0, **overrides})


def test_augmentation_is_the_same_crop_and_flip_on_both_sides_and_device_independent():
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (8, 8, 8, 1)).astype(np.float32)
    key = jax.random.PRNGKey(3)
    for flip, load in ((True, 8), (True, 12), (False, 12)):
        fn = lambda x, y: P.augment(key, x, y, load_size=load, flip=flip)  # noqa: E731
        a1, b1 = on_mesh(fn, 1, a, a.copy())
        a4, b4 = on_mesh(fn, 4, a, a.copy())
        np.testing.assert_array_equal(np.asarray(a1), np.asarray(b1))  # identical inputs stay identical
        np.testing.assert_allclose(np.asarray(a4), np.asarray(a1), atol=1e-6)
        if load == 8:  # no resize: each image is itself or its mirror, and both occur
            mirrored = [np.array_equal(np.asarray(a1)[i], a[i, :, ::-1]) for i in range(8)]
            same = [np.array_equal(np.asarray(a1)[i], a[i]) for i in range(8)]
            assert all(m or s for m, s in zip(mirrored, same)) and any(mirrored) and any(same)
    # resize + crop against a direct computation of the same offsets
    k_crop, _ = jax.random.split(key)
    offsets = np.asarray(jax.random.randint(k_crop, (8, 2), 0, 12 - 8 + 1))
    big = np.clip(np.asarray(jax.image.resize(jnp.concatenate([a, a], -1), (8, 12, 12, 2), "cubic")), -1, 1)
    want = np.stack([big[i, o[0]:o[0] + 8, o[1]:o[1] + 8, :1] for i, o in enumerate(offsets)])
    got, _ = on_mesh(lambda x, y: P.augment(key, x, y, load_size=12, flip=False), 1, a, a)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-6)


def test_losses_are_the_papers():
    # D: 1/2 [BCE(D(a, b), 1) + BCE(D(a, G(a)), 0)] over every patch; G: BCE(., 1) (+ L1 term)
    real = np.array([[0.3, -1.2], [2.0, 0.1]], np.float32)
    fake = np.array([[-0.7, 0.4], [1.5, -2.2]], np.float32)
    bce = lambda x, t: np.mean(t * np.log1p(np.exp(-x)) + (1 - t) * np.log1p(np.exp(x)))  # noqa: E731
    np.testing.assert_allclose(P.d_loss_fn("non_saturating")(real, fake), 0.5 * (bce(real, 1) + bce(fake, 0)),
                               rtol=1e-6)
    np.testing.assert_allclose(P.g_gan_loss_fn("non_saturating")(fake), bce(fake, 1), rtol=1e-6)
    np.testing.assert_allclose(P.d_loss_fn("lsgan")(real, fake),
                               0.5 * (np.mean((real - 1) ** 2) + np.mean(fake ** 2)), rtol=1e-6)
    np.testing.assert_allclose(P.g_gan_loss_fn("lsgan")(fake), np.mean((fake - 1) ** 2), rtol=1e-6)
    assert losses.OBJECTIVES["non_saturating"].d_loss is losses.d_minimax


def test_one_iteration_logs_the_losses_of_its_own_forward_pass():
    # The logged g_l1 is |G(a) - b| of the (augmented) batch and g_loss = g_gan + 100 g_l1;
    # without jitter the augmentation is the identity, so g_l1 can be recomputed from G alone.
    cfg = _quick(**{"data.load_size": 8, "data.image_size": 8, "model.discriminator.n_layers": 1,
                    "model.generator.dropout": 0.0})
    exp = build(cfg, mesh=steps.make_mesh(jax.devices()[:1]), donate=False)
    src = exp.family.source()
    from jgan.data import pipeline
    batch = pipeline.load_batch(src, np.arange(8), image_size=8, channels=1)
    g = jax.device_get(exp.state.nets["g"])
    fake, _ = exp.family.g_model.apply({"params": g.params, "batch_stats": g.batch_stats}, batch["a"],
                                       train=True, mutable=["batch_stats"])
    _, m = exp.phases["iteration"](exp.state, exp.phases.shard_batch({k: batch[k][None] for k in ("a", "b")}),
                                   jnp.int32(0))
    np.testing.assert_allclose(float(m["g_l1"]), np.mean(np.abs(np.asarray(fake) - batch["b"])), rtol=1e-5)
    np.testing.assert_allclose(float(m["g_loss"]), float(m["g_gan"]) + 100 * float(m["g_l1"]), rtol=1e-5)


def test_resume_is_bit_exact_and_four_devices_match_one(tmp_path):
    # dropout, augmentation (jitter and mirror), the data position and the lr schedule
    cfg = _quick(**{"data.flip": True})
    resumed_equals_straight(cfg, _quick(**{"data.flip": True, "train.steps": 2}), tmp_path)
    # 1 vs 4 devices: augmentation is drawn for the global batch and BatchNorm is synchronised,
    # but dropout masks are per device (jgan.steps.device_key), so compare without dropout.
    cfg = _quick(**{"data.flip": True, "model.generator.dropout": 0.0})
    one, four = steps.make_mesh(jax.devices()[:1]), steps.make_mesh(jax.devices()[:4])
    train.run(cfg, str(tmp_path / "one"), mesh=one)
    train.run(cfg, str(tmp_path / "four"), mesh=four)
    c, d = final_state(cfg, tmp_path / "one", one), final_state(cfg, tmp_path / "four", four)
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=2e-3, atol=2e-5),
                 (c.nets["g"].params, c.nets["d"].params, c.nets["g"].batch_stats),
                 (d.nets["g"].params, d.nets["d"].params, d.nets["g"].batch_stats))


@pytest.fixture(scope="module")
def glyph_classifier_dir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("glyph_classifier")
    r = launch("--config", "experiments/classifier_glyphs.py:quick", "--workdir", str(workdir))
    assert r.returncode == 0, r.stderr[-3000:]
    return str(workdir)


def test_quick_variant_through_launch_trains_evaluates_and_writes_grids(tmp_path, glyph_classifier_dir):
    run = tmp_path / "run"
    args = ["--config", "experiments/pix2pix.py:quick", "--workdir", str(run),
            f"--config.eval.classifier_workdir={glyph_classifier_dir}"]
    r = launch(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [rec for rec in records if "eval/l1" in rec]
    assert [rec["step"] for rec in evals] == [4]
    e = evals[0]
    for k in ("l1", "psnr", "ssim", "accuracy", "fid", "kid", "copy_input/l1", "copy_input/accuracy",
              "target/accuracy", "num_examples"):
        assert f"eval/{k}" in e, k
    assert e["eval/num_examples"] == 40 and 0 <= e["eval/accuracy"] <= 1
    summary = json.loads((run / "eval_summary.json").read_text())
    assert summary["l1"]["final"] == e["eval/l1"] and summary["l1"]["best_step"] == 4
    assert {"d_loss", "g_loss", "g_gan", "g_l1", "d_real_logit", "d_fake_logit", "d_real_prob", "d_fake_prob"} <= set(records[0])
    from PIL import Image
    grid = Image.open(run / "samples" / "step_0000004.png")
    assert grid.size == (6 * 34 + 2, 3 * 34 + 2)  # 6 held-out (input, G(input), target), 2 per row
    r = launch(*args, "--mode", "eval")
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads((run / "eval.json").read_text())
    assert result["step"] == 4 and result["l1"] == pytest.approx(e["eval/l1"], rel=1e-6)
    r = launch(*args, "--mode", "sample", "--seeds", "0-3")
    assert r.returncode == 0, r.stderr[-3000:]
    assert Image.open(r.stdout.split()[-1]).size == (6 * 34 + 2, 2 * 34 + 2)
    r = launch(*args, "--mode", "interpolate")
    assert r.returncode != 0 and "not available for config.family='pix2pix'" in r.stderr


@pytest.mark.parametrize("override,field", [
    ({"data.source": "aligned_folder"}, "data.path"),
    ({"data.load_size": 16}, "data.load_size"),
    ({"data.image_size": 24, "data.load_size": 24}, "data.image_size"),
    ({"model.discriminator.n_layers": 4}, "model.discriminator.n_layers"),
    ({"loss.name": "hinge"}, "loss.name"),
])
def test_bad_config_names_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        make_family(_quick(**override))


def test_trains_on_an_aligned_folder_the_test_writes(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        (tmp_path / "data" / split).mkdir(parents=True)
        for i in range(8):
            a = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(tmp_path / "data" / split / f"{i}.png")
    cfg = load_experiment("experiments/pix2pix.py", "folder")
    cfg.data.path, cfg.data.image_size, cfg.data.load_size = str(tmp_path / "data"), 16, 18
    cfg.model.generator.width = cfg.model.discriminator.width = 4
    cfg.model.discriminator.n_layers = 2
    cfg.train.batch_size, cfg.train.steps, cfg.eval.every = 4, 2, 0
    cfg.train.log_every = cfg.train.sample_every = cfg.train.checkpoint_every = 2
    cfg.train.num_samples = 4
    last = train.run(cfg, str(tmp_path / "run"))
    assert np.isfinite(last["g_loss"]) and np.isfinite(last["d_loss"])
    assert Image.open(tmp_path / "run" / "samples" / "step_0000002.png").mode == "RGB"
