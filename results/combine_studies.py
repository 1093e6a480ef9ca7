"""One markdown table from several seed studies' ``study.json`` (``launch.py --seeds``):
a row per study, a column per metric, mean ± standard error over its seeds.

    python results/combine_studies.py runs/pacgan/grid25-pack1 runs/pacgan/grid25-pack2 ...
"""
import json
import os
import sys


def main(workdirs):
    studies = [json.load(open(os.path.join(w, "study.json"))) for w in workdirs]
    metrics = [k for k in studies[0]["summary"] if not k.endswith("_std")]
    lines = ["| study | seeds | " + " | ".join(metrics) + " |", "|---|---|" + "---:|" * len(metrics)]
    for s in studies:
        cells = []
        for k in metrics:
            v = s["summary"].get(k)
            cells.append("-" if v is None else f"{v['mean']:.4g} ± {v['sem']:.2g}")
        lines.append(f"| {s['name']} | {', '.join(map(str, s['seeds']))} | " + " | ".join(cells) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
