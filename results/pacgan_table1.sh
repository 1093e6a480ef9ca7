#!/bin/sh
# PacGAN Table 1 (Lin et al. 2018, Section 5.1): grid25 and ring8, packs 1-4, a seed study of
# each cell (--seeds: the seeds as one vmapped program), then one table of the eight cells.
# Resumable: run the same command again after a stop; a finished cell says so and is skipped.
#
#   sh results/pacgan_table1.sh RUNS_DIR STEPS SEEDS     e.g.  sh results/pacgan_table1.sh runs/pacgan 5000 3
set -e
runs=${1:-runs/pacgan}; steps=${2:-5000}; seeds=${3:-3}
for data in grid25 ring8; do
  for m in 1 2 3 4; do
    python launch.py --config "experiments/pacgan.py:$data,pack=$m" --seeds "$seeds" \
      --workdir "$runs/$data-pack$m" --config.train.steps="$steps"
  done
done
python results/combine_studies.py "$runs"/grid25-pack* "$runs"/ring8-pack*
