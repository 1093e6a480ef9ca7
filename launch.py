"""Train a jgan experiment.

    python launch.py --config experiments/wgan.py
    python launch.py --config experiments/dcgan.py:celeba64 --config.optim.g.lr=1e-4
    python launch.py --config experiments/gan.py:quick --workdir /tmp/gan

The workdir defaults to runs/<experiment>[-<variant>]; running the same command again
resumes from its latest checkpoint.
"""
from __future__ import annotations

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from jgan.checkpoint import CheckpointError
from jgan.config import ConfigError
from jgan.data.sources import DataError

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Experiment config file[:variant].", lock_config=True)
flags.DEFINE_string("workdir", None, "Output directory (default runs/<name>[-<variant>]).")
flags.DEFINE_enum("mode", "train", ["train", "eval", "sample", "interpolate", "reconstruct", "arithmetic",
                                    "directions"],
                  "train (or resume); eval: the config's metrics for a checkpoint (eval.json); "
                  "sample: a grid from latent --seeds (pix2pix: translations of held-out examples); "
                  "interpolate (gan family): linear and spherical strips through the latents of --seeds; "
                  "reconstruct (bigan family): held-out images and their G(E(x)); arithmetic / "
                  "directions (unconditional digit generators): latent vector arithmetic on --labels "
                  "a,b (bold a - thin a + thin b) and InterFaceGAN attribute directions (ink, slant).")
flags.DEFINE_string("seeds", "", "train: a seed study, N seeds from config.seed (e.g. 10) or a list (3,7,11), "
                    "table of mean +- s.e. in WORKDIR/study.md; sample / interpolate: latent seeds, e.g. "
                    "0-15 or 3,7 (default: 0-63 for an unconditional grid, 0-7 for conditional grids, 0-3 "
                    "for interpolation); pix2pix sample: indices of held-out examples.")
flags.DEFINE_string("labels", "", "sample mode, label-conditioned G: the classes to draw, in order, one "
                    "column each (e.g. 9,4,3,0,5); default: every class.")
flags.DEFINE_integer("frames", 8, "Frames per interpolation segment (>= 2).", lower_bound=2)
flags.DEFINE_integer("step", None, "Checkpoint step for --mode eval, sample and interpolate (default: latest).")
flags.mark_flags_as_required(["config"])


def _field_error(argv: list[str]) -> str | None:
    """The first ``--config.a.b=v`` override in ``argv`` that names no field, as a sentence."""
    import difflib
    import importlib.util

    spec = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
    if spec is None and "--config" in argv[:-1]:
        spec = argv[argv.index("--config") + 1]
    if spec is None:
        return None
    path, _, variant = spec.partition(":")
    try:
        module_spec = importlib.util.spec_from_file_location("_jgan_config", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    except SyntaxError as e:
        return f"--config {path} has a syntax error at line {e.lineno}: {e.msg}; fix the file."
    except Exception as e:  # a missing file, an import error, ...
        return f"cannot load --config {path} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})."
    if not callable(getattr(module, "get_config", None)):
        return (f"--config {path} defines no get_config(variant) function; an experiment file returns "
                f"its ConfigDict from get_config (see experiments/gan.py).")
    try:
        config = module.get_config(variant or None)
    except Exception as e:  # e.g. an unknown variant
        return str(e)
    for arg in argv:
        if not arg.startswith("--config."):
            continue
        node, walked = config, []
        for part in arg[len("--config."):].split("=", 1)[0].split("."):
            if not hasattr(node, "keys") or part not in node:
                options = list(node.keys()) if hasattr(node, "keys") else []
                close = difflib.get_close_matches(part, options, n=1)
                hint = f"; did you mean {'.'.join(walked + close)}?" if close else ""
                return f"config.{'.'.join(walked + [part])} is not a config field{hint}"
            node, walked = node[part], walked + [part]
    return None


def parse_flags(argv: list[str]) -> list[str]:
    """absl flag parsing with bad overrides reported as one line (no traceback)."""
    try:
        return FLAGS(argv)
    except SystemExit:  # absl exits 1 after printing --help / --helpshort / --helpfull
        if any(a.split("=")[0] in ("--help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml") for a in argv[1:]):
            sys.exit(0)
        raise
    except flags.Error as e:  # absl embeds the config file's traceback: keep its last line
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        message = lines[0] if len(lines) == 1 else f"{lines[0].split(':')[0]}: {lines[-1]}"
        if lines and lines[0].startswith("flag --config="):
            message = _field_error(argv) or message
    except Exception as e:  # ml_collections raises plain errors for unknown fields and bad types
        message = _field_error(argv) or f"invalid --config override ({str(e).splitlines()[0]})"
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def default_workdir(config) -> str:
    return os.path.join("runs", config.name + (f"-{config.variant}" if config.get("variant") else ""))


def run_mode(config, workdir: str) -> None:
    """``--mode eval`` (any family) or one of the family's own modes (sample, interpolate)."""
    import json
    import types

    from jgan import viz
    from jgan.eval.evaluate import EvalError, eval_report
    from jgan.outputs import eval_summary
    from jgan.experiment import make_family, restore

    family = make_family(config)
    modes = family.modes()
    if FLAGS.mode != "eval" and FLAGS.mode not in modes:
        raise ConfigError(f"--mode {FLAGS.mode} is not available for config.family={config.family!r}; "
                          f"use one of train, eval{''.join(', ' + m for m in modes)}.")
    if FLAGS.mode == "eval":
        try:
            family.check_evaluator()
        except EvalError as e:
            raise ConfigError(str(e)) from e
    family, state = restore(config, workdir, FLAGS.step)
    if FLAGS.mode == "eval":
        try:
            result = family.evaluate(state, workdir)
            floor = family.evaluate_floor(workdir)
        except EvalError as e:
            raise ConfigError(str(e)) from e
        summary = eval_summary(viz.read_jsonl(os.path.join(workdir, "metrics.jsonl")))
        record = eval_report(config.name, int(state.step), result, floor, summary)
        with open(os.path.join(workdir, "eval.json"), "w") as f:
            json.dump(record, f, indent=2)
        return
    labels = [int(v) for v in FLAGS.labels.split(",") if v.strip()] if FLAGS.labels else None
    args = types.SimpleNamespace(seeds=FLAGS.seeds, labels=labels, frames=FLAGS.frames)
    for path in modes[FLAGS.mode](state, workdir, args):
        print(path)


def _quiet_orbax_errors() -> None:
    """Drop orbax's WARNING and ERROR records (tracebacks from its background threads, one
    per file; a line per unreadable metadata file): ``jgan.checkpoint`` reports a failed save,
    a damaged or an unfinished checkpoint as one sentence."""
    import logging as std_logging

    class _NoOrbaxErrors(std_logging.Filter):
        def filter(self, record):
            return not (record.levelno >= std_logging.WARNING and f"{os.sep}orbax{os.sep}" in record.pathname)

    logging.get_absl_handler().addFilter(_NoOrbaxErrors())


def _ctrl_c_in_callbacks_reaches_main() -> None:
    """A Ctrl-C that lands while Python runs a callback it cannot raise from (jax's GC
    callback) would print an "Exception ignored" traceback and be lost; re-raise it in the
    main thread instead, where main's one-line abort handles it."""
    import _thread

    previous = sys.unraisablehook

    def hook(unraisable):
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            _thread.interrupt_main()
        else:
            previous(unraisable)

    sys.unraisablehook = hook


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO
    _quiet_orbax_errors()
    _ctrl_c_in_callbacks_reaches_main()
    from jgan import iteration, train  # after flag parsing: keeps --help fast
    from jgan.interrupt import EXIT_INTERRUPTED, Interrupted, abort, aborted_message
    from jgan.outputs import WorkdirError, prepare_workdir

    try:
        config = FLAGS.config
        config.name  # noqa: B018  (the placeholder of a failed load raises here)
    except OSError as e:  # ml_collections defers the load error to the first access
        cause = e.__cause__ or e
        detail = [ln.strip() for ln in str(cause).splitlines() if ln.strip()][-1]
        print(f"error: cannot load --config ({detail}).", file=sys.stderr)
        sys.exit(2)
    workdir = FLAGS.workdir or default_workdir(config)
    study = FLAGS.mode == "train" and bool(FLAGS.seeds) and config.get("kind") != "classifier"
    if study and not FLAGS.workdir:
        workdir += "-study"
    try:
        if config.get("kind") == "classifier":
            from jgan.eval import classifier
            prepare_workdir(workdir)  # before any work (train.run and studies check it themselves)
            result = classifier.train_classifier(config, workdir)
            print(f"{config.name}: held-out accuracy {result['test_accuracy']:.4f} "
                  f"({result['num_test']} held-out examples); written to {workdir}")
        elif study:
            from jgan import study as study_lib
            study_lib.run_study(config, workdir, study_lib.study_seeds(FLAGS.seeds, config.seed))
        elif FLAGS.mode == "train":
            train.run(config, workdir)
        else:
            run_mode(config, workdir)
    except Interrupted as e:
        print(f"{config.name}: {e}", flush=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:  # Ctrl-C outside a training loop (sample, eval, ...): see jgan.interrupt
        abort(aborted_message(config.name, workdir))
    except (ConfigError, DataError, CheckpointError, WorkdirError, iteration.DivergenceError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
