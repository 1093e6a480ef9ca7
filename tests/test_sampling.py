"""Latent-space tools: interpolation formulas, seed parsing, the sample/interpolate modes."""
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from jgan import sampling

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_parse_seeds():
    assert sampling.parse_seeds("0-3,8") == [0, 1, 2, 3, 8]
    assert sampling.parse_seeds("7") == [7]
    with pytest.raises(ValueError):
        sampling.parse_seeds(",")


def test_lerp_and_slerp_endpoints():
    rng = np.random.default_rng(0)
    z0, z1 = jnp.asarray(rng.normal(size=16)), jnp.asarray(rng.normal(size=16))
    for fn in (sampling.lerp, sampling.slerp):
        out = fn(z0, z1, jnp.array([0.0, 1.0]))
        np.testing.assert_allclose(out[0], z0, atol=1e-5)
        np.testing.assert_allclose(out[1], z1, atol=1e-5)


def test_slerp_moves_at_constant_angle_on_the_great_circle():
    # Two orthogonal unit vectors: slerp(t) = cos(t pi/2) z0 + sin(t pi/2) z1 (closed form).
    z0, z1 = jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0])
    t = jnp.linspace(0, 1, 7)
    out = sampling.slerp(z0, z1, t)
    expected = np.stack([np.cos(t * np.pi / 2), np.sin(t * np.pi / 2), np.zeros(7)], axis=1)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)  # lerp would shrink


def test_slerp_of_parallel_vectors_is_lerp():
    z = jnp.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(sampling.slerp(z, 2 * z, jnp.array([0.5])), sampling.lerp(z, 2 * z, jnp.array([0.5])), atol=1e-5)


def test_interpolation_path_length_and_latents_are_seeded():
    z = sampling.latents(0, [3, 7, 9], 4)
    assert z.shape == (3, 4)
    np.testing.assert_array_equal(z[0], sampling.latents(0, [3], 4)[0])  # seed 3 is seed 3
    assert sampling.interpolation_path(z, 5, "spherical").shape == (9, 4)


def test_sample_and_interpolate_modes_end_to_end(tmp_path):
    def launch(*args):
        r = subprocess.run([sys.executable, os.path.join(ROOT, "launch.py"), "--config",
                            "experiments/gan.py:quick", "--workdir", str(tmp_path), *args],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout.split()

    launch()
    (grid,) = launch("--mode", "sample", "--seeds", "0-8")
    assert grid.endswith("seeds_0-8_step_0000006.png") and os.path.getsize(grid) > 100
    strips = launch("--mode", "interpolate", "--seeds", "3,7", "--frames", "5")
    assert [os.path.basename(p) for p in strips] == ["interp_linear_3-7_step_0000006.png",
                                                      "interp_spherical_3-7_step_0000006.png"]
    from PIL import Image
    strip = np.asarray(Image.open(strips[0]).convert("RGB"))
    h, w = strip.shape[:2]
    assert w > 4 * h  # one row of 5 frames
    # the seeds' own frames (tiles 0 and 4 of 28 px + 2 px padding) are framed in red
    from jgan.viz import MARK_COLOUR
    assert tuple(strip[0, 10]) == MARK_COLOUR and tuple(strip[0, 4 * 30 + 10]) == MARK_COLOUR
    assert tuple(strip[0, 2 * 30 + 10]) == (255, 255, 255)
