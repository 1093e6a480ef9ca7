"""Faults: every bad input is one line naming the flag / field / file, nothing written is lost,
a resumed run is a function of its config, and checkpoints survive damage and full disks."""
import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import ROOT, launch, load_experiment

from jgan import config as config_lib
from jgan import train
from jgan.checkpoint import Checkpointer
from jgan.data import sources
from jgan.experiment import build, make_family

QUICK = ["--config", "experiments/gan.py:quick"]


def one_error_line(r) -> str:
    """The single non-empty stderr line of a failed launch (no traceback, no other output)."""
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode != 0 and len(lines) == 1 and lines[0].startswith("error:"), r.stderr[-3000:]
    return lines[0]


def snapshot(path) -> dict:
    """Every file under ``path`` -> its bytes (to show that nothing was changed), except the
    workdir lock ``.jgan_lock``, which names the last run that held the workdir, not its state."""
    out = {}
    for d, _, files in os.walk(path):
        for f in files:
            if f == ".jgan_lock":
                continue
            with open(os.path.join(d, f), "rb") as fh:
                out[os.path.relpath(os.path.join(d, f), path)] = fh.read()
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """gan:quick trained to step 6 with checkpoints 3 and 6 (shared, never modified)."""
    workdir = tmp_path_factory.mktemp("trained") / "run"
    r = launch(*QUICK, "--workdir", str(workdir))
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(os.listdir(workdir / "checkpoints")) == ["3", "6"]
    return workdir


# ----------------------------------------------------------------------------- bad inputs

@pytest.fixture(scope="module")
def config_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("configs")
    (d / "syntax.py").write_text("def get_config(arg=None)\n    return None\n")
    (d / "no_get_config.py").write_text("from jgan.config import base_config\nCONFIG = base_config()\n")
    (d / "afile").write_text("not a directory\n")
    return d


# (flags, words the one line must contain); {cfg} is the folder of config_files, {run} a
# trained workdir, {new} a fresh path that must not be created.
BAD_INPUTS = [
    (["--config", "{cfg}/syntax.py"], ["syntax.py", "syntax error at line 1"]),
    (["--config", "{cfg}/no_get_config.py"], ["no_get_config.py", "get_config"]),
    (["--config", "experiments/pacgan.py:grid25,foo"], ["'foo'", "key=value", "experiments/pacgan.py"]),
    ([*QUICK, "--seeds", "abc"], ["--seeds", "'abc'"]),
    ([*QUICK, "--seeds", "3-a"], ["--seeds", "'3-a'"]),
    ([*QUICK, "--mode", "sample", "--seeds", "-3", "--workdir", "{run}"], ["--seeds", "'-3'"]),
    ([*QUICK, "--mode", "sample", "--seeds", "7-2", "--workdir", "{run}"], ["--seeds", "empty"]),
    ([*QUICK, "--mode", "interpolate", "--frames", "0", "--workdir", "{run}"], ["--frames"]),
    ([*QUICK, "--mode", "sample", "--step", "999", "--workdir", "{run}"], ["999", "3, 6", "--step"]),
    ([*QUICK, "--mode", "sample", "--workdir", "{new}"], ["no checkpoint"]),
    ([*QUICK, "--mode", "eval", "--config.eval.metrics=()", "--workdir", "{new}"], ["no checkpoint"]),
    ([*QUICK, "--config.seed=-1"], ["config.seed=-1"]),
    ([*QUICK, "--config.model.generator.hidden=-5"], ["config.model.generator.hidden", "positive integers"]),
    ([*QUICK, "--config.model.discriminator.hidden=abc"], ["config.model.discriminator.hidden"]),
    (["--config", "experiments/pacgan.py:quick", "--config.model.generator.name=dcgan28"],
     ["config.model.generator.name='dcgan28'", "(2,)"]),
    (["--config", "experiments/pacgan.py:quick", "--config.model.discriminator.name=dcgan28"],
     ["config.model.discriminator.name='dcgan28'", "(2,)"]),
    (["--config", "experiments/dcgan.py:quick", "--config.data.image_size=64"],
     ["config.model.generator.name='dcgan28'", "(64, 64, 1)", "data.image_size=64"]),
    ([*QUICK, "--config.data.source=tfds", "--config.data.name=no_such_dataset"], ["data.name='no_such_dataset'"]),
    ([*QUICK, "--workdir", "{cfg}/afile"], ["--workdir", "is a file"]),
]


@pytest.mark.parametrize("flags,words", BAD_INPUTS, ids=[" ".join(f[2:] or f[1:])[:60] for f, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_writes_nothing(flags, words, config_files, trained, tmp_path):
    before = snapshot(trained)
    new = tmp_path / "new"
    args = [a.format(cfg=config_files, run=trained, new=new) for a in flags]
    if "--workdir" not in args:
        args += ["--workdir", str(new)]
    r = launch(*args)
    line = one_error_line(r)
    for w in words:
        assert w in line, line
    assert "Traceback" not in r.stderr
    assert not os.path.exists(new)
    assert snapshot(trained) == before


def test_unwritable_workdir_is_one_line_before_any_work(tmp_path):
    # root writes through file modes, so a read-only directory is also tried where the kernel
    # refuses root (sysfs); each case that applies must fail at once, naming --workdir.
    cases = []
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        cases.append(str(ro))
    if os.path.isdir("/sys/kernel"):
        try:
            open("/sys/kernel/.jgan_probe", "w").close()
        except OSError:
            cases.append("/sys/kernel")
    if not cases:
        pytest.skip("no unwritable directory available here")
    for workdir in cases:
        for args in (QUICK, ["--config", "experiments/pacgan.py:quick", "--seeds", "2"]):
            line = one_error_line(launch(*args, "--workdir", workdir))
            assert f"--workdir {workdir} cannot be written" in line


def test_a_workdir_in_use_is_refused_and_left_untouched(trained, tmp_path):
    """Two runs on one workdir would interleave checkpoints and metrics: the second is one
    line naming the holder, and the first's files are unchanged."""
    from jgan.outputs import WorkdirError, workdir_lock

    work = tmp_path / "run"
    shutil.copytree(trained, work)
    before = snapshot(work)
    with workdir_lock(str(work)):
        with pytest.raises(WorkdirError, match="in use by another jgan run"):
            with workdir_lock(str(work)):
                pass
        line = one_error_line(launch(*QUICK, "--workdir", str(work), "--config.train.steps=9"))
        assert f"--workdir {work} is in use by another jgan run (pid {os.getpid()} on " in line
        line = one_error_line(launch("--config", "experiments/pacgan.py:quick", "--seeds", "2",
                                     "--workdir", str(work)))
        assert "is in use by another jgan run" in line
    assert snapshot(work) == before
    with workdir_lock(str(work)):  # released: the next run may take it
        pass


def test_help_exits_zero():
    r = launch("--help")
    assert r.returncode == 0 and "--workdir" in r.stdout + r.stderr


def test_every_label_of_a_source_is_checked(monkeypatch):
    # A source without a label array whose first label is valid but later ones are not, and
    # one that declares (as TFDS's ClassLabel) more classes than the model has.
    class Listed:
        def __init__(self, labels):
            self.y = labels

        def __len__(self):
            return len(self.y)

        def __getitem__(self, i):
            return {"x": np.zeros((28, 28, 1), np.uint8), "label": np.int32(self.y[i])}

    class Declared(Listed):
        num_label_classes = 12

    cfg = load_experiment("experiments/acgan.py", "quick")  # num_classes 10
    family = make_family(cfg)
    for source, label in ((Listed([0, 3, 9, 11, 4]), 11), (Declared([0, 1]), 11)):
        monkeypatch.setattr(sources, "make_source", lambda *a, s=source: s)
        with pytest.raises(sources.DataError, match=rf"model.num_classes=10\), but the data has label {label}"):
            family.source()
    monkeypatch.setattr(sources, "make_source", lambda *a: Listed([0, 9, 5]))
    assert len(family.source()) == 3


# ----------------------------------------------------------------------------- reproducibility


def test_trajectory_changes_against_hand_written_configs():
    saved = {"seed": 0, "train": {"steps": 10, "batch_size": 64, "log_every": 5},
             "eval": {"every": 0}, "optim": {"g": {"lr": 2e-4}}}
    same_trajectory = {"seed": 0, "train": {"steps": 99, "batch_size": 64, "log_every": 1},
                       "eval": {"every": 7}, "optim": {"g": {"lr": 2e-4}}, "new_field": 1}
    assert config_lib.trajectory_changes(saved, same_trajectory) == []
    other = {"seed": 1, "train": {"steps": 10, "batch_size": 32, "log_every": 5},
             "eval": {"every": 0}, "optim": {"g": {"lr": 1e-4}}}
    assert config_lib.trajectory_changes(saved, other) == ["optim.g.lr", "seed", "train.batch_size"]


@pytest.mark.parametrize("override,fields", [
    (["--config.seed=1"], ["seed 0 -> 1"]),
    (["--config.train.batch_size=40", "--config.train.steps=9"], ["train.batch_size 20 -> 40"]),
])
def test_resume_with_another_trajectory_is_refused_and_nothing_is_overwritten(override, fields, trained, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(trained, workdir)
    before = snapshot(workdir)
    r = launch(*QUICK, "--workdir", str(workdir), *override)
    line = one_error_line(r)
    assert "checkpoint 6" in line and all(f in line for f in fields), line
    assert "train.steps" not in line  # a field that may change is not reported
    assert snapshot(workdir) == before  # config.json, metrics, checkpoints untouched


def test_sequential_study_records_each_final_evaluation_once(tmp_path):
    args = ["--config", "experiments/pacgan.py:quick", "--seeds", "1", "--config.study.vmap=False",
            "--config.train.steps=3", "--workdir", str(tmp_path)]
    walls = []
    for _ in range(2):  # the second run finds the study finished
        r = launch(*args)
        assert r.returncode == 0, r.stderr[-3000:]
        walls.append(json.loads((tmp_path / "study.json").read_text())["wall_seconds"])
    assert walls[1] == walls[0]  # the finished study's time is kept, not the rerun's
    records = [json.loads(ln) for ln in (tmp_path / "seed_0" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if any(k.startswith("eval/") for k in r)]
    assert len(evals) == 1 and evals[0]["step"] == 3
    table = json.loads((tmp_path / "study.json").read_text())["per_seed"]["0"]
    assert table == {k[len("eval/"):]: v for k, v in evals[0].items() if k.startswith("eval/")}


def test_resuming_a_vmapped_study_with_other_seeds_is_refused(tmp_path):
    args = ["--config", "experiments/pacgan.py:quick", "--config.train.steps=3", "--workdir", str(tmp_path)]
    r = launch(*args, "--seeds", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    before = snapshot(tmp_path)
    line = one_error_line(launch(*args, "--seeds", "0,2"))
    assert "study.seeds [0, 1] -> [0, 2]" in line, line
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------- checkpoints


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")  # the NaN G's sample grid
def test_no_checkpoint_holds_a_non_finite_state(tmp_path, monkeypatch):
    # The metrics of an iteration are computed before its last update: a state made NaN by
    # that update has finite metrics. Simulated: G's parameters become NaN at step 6 (the
    # last, a checkpoint step) after the phase returned finite metrics.
    real = train.run_block

    def nan_at_6(phases, plan, k, state, reals, **kw):
        state, metrics = real(phases, plan, k, state, reals, **kw)
        if int(state.step) == 6:
            g = state.nets["g"]
            g = g.replace(params=jax.tree.map(lambda p: p * np.float32("nan"), g.params))
            state = state.replace(nets={**state.nets, "g": g})
        return state, metrics

    monkeypatch.setattr(train, "run_block", nan_at_6)
    cfg = load_experiment("experiments/gan.py", "quick")
    with pytest.raises(train.DivergenceError, match=r"state at step 6 holds NaN.*checkpoint \(step 3\)"):
        train.run(cfg, str(tmp_path))
    ckpt = Checkpointer(str(tmp_path / "checkpoints"))
    assert ckpt.all_steps() == [3]
    state, _ = ckpt.restore(build(cfg).state)
    ckpt.close()
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state)
               if np.issubdtype(np.asarray(x).dtype, np.floating))


def _damage(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated mid-file


def test_damaged_latest_checkpoint_and_a_stray_directory_fall_back_with_warnings(trained, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(trained, workdir)
    ck = workdir / "checkpoints"
    _damage(ck / "6" / "state" / "_METADATA")
    damaged = (ck / "6" / "state" / "_METADATA").read_bytes()
    (ck / "7").mkdir()  # an interrupted copy: no orbax metadata
    (ck / "7" / "state").write_text("partial")
    # sample / eval never move anything: the damaged file is named with the step to use
    line = one_error_line(launch(*QUICK, "--mode", "sample", "--step", "6", "--workdir", str(workdir)))
    assert "checkpoint 6" in line and "state/_METADATA is not valid JSON" in line
    # training: both are moved aside (not deleted) with one warning each, resumed from 3
    r = launch(*QUICK, "--workdir", str(workdir), "--config.train.steps=9")
    assert r.returncode == 0, r.stderr[-3000:]
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 2 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert f"{ck / '7'} is not a finished checkpoint" in warnings[0] and "unfinished-7" in warnings[0]
    assert "checkpoint 6" in warnings[1] and "state/_METADATA is not valid JSON" in warnings[1]
    assert "resuming from checkpoint 3" in warnings[1]
    assert f"resuming {workdir} from step 3" in r.stdout
    assert (ck / "corrupt-6" / "state" / "_METADATA").read_bytes() == damaged
    assert (ck / "unfinished-7" / "state").read_text() == "partial"
    assert sorted(os.listdir(ck)) == ["3", "6", "9", "corrupt-6", "unfinished-7"]


def test_garbled_array_file_is_reported_as_damage_not_as_another_model(trained, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(trained, workdir)
    root = workdir / "checkpoints" / "6" / "state" / "ocdbt.process_0" / "d"
    files = sorted(root.iterdir(), key=lambda p: p.stat().st_size)
    biggest = files[-1]  # G's first kernel lives in the largest data file
    biggest.write_bytes(bytes(len(biggest.read_bytes())))  # zeroed: same size, garbage content
    line = one_error_line(launch(*QUICK, "--mode", "sample", "--workdir", str(workdir)))
    assert "checkpoint 6" in line and "is damaged" in line and "--step 3" in line, line
    assert "does not match" not in line



def _raised_in(filename: str, cause: BaseException | None = None) -> BaseException:
    """An exception whose only frame is in ``filename`` (as if raised by that module)."""
    scope = {"cause": cause}
    exec(compile("def f():\n    try:\n        raise RuntimeError('Event loop is closed') from cause\n"
                 "    except RuntimeError as e:\n        return e\n", filename, "exec"), scope)
    return scope["f"]()


def test_abandoned_read_tracebacks_are_dropped_only_after_a_failed_restore(monkeypatch):
    """After a failed restore, tracebacks raised only in asyncio/orbax/tensorstore are dropped
    and every other unraisable still reaches the previous hook; a successful restore passes
    on everything it held."""
    import logging
    import types

    from jgan import checkpoint as ck
    lib = os.path.join(os.sep, "py", "lib", "asyncio", "base_events.py")
    ours = os.path.join(os.sep, "work", "jgan", "train.py")
    assert ck._from_abandoned_read(_raised_in(lib))
    assert not ck._from_abandoned_read(_raised_in(ours))
    assert not ck._from_abandoned_read(_raised_in(lib, cause=_raised_in(ours)))
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_value))
    monkeypatch.setattr(ck, "_abandoned_reads_silenced", False)
    stray, bug = _raised_in(lib), _raised_in(ours)
    with ck._abandoned_reads_held():  # success: held ones are passed on, in order
        sys.unraisablehook(types.SimpleNamespace(exc_value=stray))
    assert seen == [stray] and not ck._abandoned_reads_silenced
    asyncio_log = logging.getLogger("asyncio")
    filters = list(asyncio_log.filters)
    try:
        with pytest.raises(OSError):
            with ck._abandoned_reads_held():
                sys.unraisablehook(types.SimpleNamespace(exc_value=stray))
                sys.unraisablehook(types.SimpleNamespace(exc_value=bug))
                raise OSError("unreadable")
        assert seen == [stray, bug]  # the stray read is dropped, the bug is not
        sys.unraisablehook(types.SimpleNamespace(exc_value=_raised_in(lib)))  # later stragglers
        assert seen == [stray, bug]
        record = logging.LogRecord("asyncio", logging.ERROR, lib, 1, "Future exception was never "
                                   "retrieved", None, (ValueError, ValueError("ZSTD"), None))
        other = logging.LogRecord("asyncio", logging.ERROR, lib, 1, "Executing took 0.2 s", None, None)
        assert not asyncio_log.filter(record) and asyncio_log.filter(other)
    finally:
        asyncio_log.filters[:] = filters

FULL_DISK = '''
import errno, os, sys
root, full_from = sys.argv[1], int(sys.argv[2])
sys.argv = [os.path.join(root, "launch.py"), *sys.argv[3:]]
sys.path.insert(0, root)
from orbax.checkpoint._src.handlers import json_checkpoint_handler as J
_save = J.JsonCheckpointHandler._save_fn

async def _full(self, x, directory):  # every JSON write of checkpoint >= full_from: disk full
    if int(str(directory.parent.name).split(".")[0]) >= full_from:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(directory))
    return await _save(self, x, directory)

J.JsonCheckpointHandler._save_fn = _full
import launch
from absl import app
app.run(launch.main, flags_parser=launch.parse_flags)
'''


def test_full_disk_during_a_save_is_one_line_naming_the_intact_checkpoint(trained, tmp_path):
    runner = tmp_path / "full_disk.py"
    runner.write_text(FULL_DISK)
    workdir = tmp_path / "run"
    shutil.copytree(trained, workdir)
    more = ["--config.train.steps=12", "--config.train.checkpoint_every=3"]
    r = subprocess.run([sys.executable, str(runner), ROOT, "9", *QUICK, "--workdir", str(workdir), *more],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("gan: ")]  # no progress bar
    assert r.returncode == 1 and len(lines) == 1, r.stderr[-3000:]
    assert "could not write checkpoint 9" in lines[0] and "no space left" in lines[0]
    assert "the newest intact checkpoint is step 6" in lines[0]
    # with space again, the same command resumes from that checkpoint
    r = launch(*QUICK, "--workdir", str(workdir), *more)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"resuming {workdir} from step 6" in r.stdout
    assert Checkpointer(str(workdir / "checkpoints")).all_steps() == [6, 9, 12]
