"""Train and evaluate SOI variants over seeds; a table shaped like the paper's Table 1 and a plot.

Writes out_dir/sweep.json (settings, every run, the summary rows), out_dir/table.md and
out_dir/sweep.png (SI-SNRi against MMAC/s). Runs already in sweep.json with the same settings are
not repeated, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from soi_mcu.errors import SoiError
from soi_mcu.model.config import UNetConfig, load_config
from soi_mcu.model.unet import parse_variant, variant_config, variant_list
from soi_mcu.report.complexity import complexity
from soi_mcu.train.args import check_training_numbers
from soi_mcu.train.args import sweep_arguments as add_arguments  # noqa: F401  (python -m entry points, tests)
from soi_mcu.train.evaluate import EVAL_SEED, calibration_set, eval_set, evaluate_model, summary
from soi_mcu.train.speech_data import SyntheticSpeechNoise


@dataclasses.dataclass(frozen=True)
class Settings:
    steps: int
    batch: int = 8
    seconds: float = 1.0
    lr: float = 3e-3
    eval_count: int = 64
    eval_seconds: float = 2.0
    eval_seed: int = EVAL_SEED
    int8: bool = False  # also the full-int8 export's SI-SNRi (LiteRT reference kernels = the firmware)
    calibration_count: int = 16  # training-split mixtures that calibrate the int8 export


def run_one(base: UNetConfig, variant: str, seed: int, st: Settings, ckpt: Path | None, threads: int) -> dict:
    """One training run and its evaluation (a worker process's job)."""
    import torch

    from soi_mcu.train.speech import train

    if threads:
        torch.set_num_threads(threads)
    res = train(base, variant, steps=st.steps, seed=seed, batch=st.batch, seconds=st.seconds, lr=st.lr, checkpoint=ckpt)
    noisy, clean = eval_set(base, st.eval_count, st.eval_seconds, st.eval_seed)
    calib = calibration_set(base, st.calibration_count, noisy.shape[-1]) if st.int8 else None
    ev = evaluate_model(res.model, base, noisy, clean, st.eval_seed, calibration=calib)
    tail = res.losses[-max(1, st.steps // 10):]
    metrics = ev.as_dict()
    metrics["eval_seed"] = metrics.pop("seed")
    return {"variant": variant, "seed": seed, "steps": st.steps, "train_seconds": round(res.seconds, 1),
            "final_loss": sum(tail) / len(tail), "checkpoint": str(ckpt) if ckpt else None, **metrics}


def sweep(config: Path | UNetConfig, variants: list[str], seeds: list[int], steps: int, out_dir: Path,
          jobs: int = 1, threads: int = 0, settings: Settings | None = None, checkpoints: bool = False) -> dict:
    base = config if isinstance(config, UNetConfig) else load_config(Path(config))
    for v in variants:
        variant_config(base, v)  # a typo fails before hours of training
    if "stmc" not in variants:
        variants = ["stmc", *variants]  # the reference of every ratio
    st = settings or Settings(steps=steps)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    SyntheticSpeechNoise(base.sample_rate, "train", progress=_say)  # synthesize once, before the workers
    SyntheticSpeechNoise(base.sample_rate, "test", progress=_say)
    state = {"config": dataclasses.asdict(base), "settings": dataclasses.asdict(st), "runs": []}
    done = _previous_runs(out_dir / "sweep.json", state)
    todo = [(v, s) for v in variants for s in seeds if (v, s) not in done]
    state["runs"] = [r for r in done.values() if r["variant"] in variants and r["seed"] in seeds]
    _say(f"sweep: {len(todo)} runs to do ({len(state['runs'])} already in {out_dir / 'sweep.json'}), {jobs} at a time")
    def ckpt(v: str, s: int) -> Path | None:
        return out_dir / "checkpoints" / f"{_slug(v)}_seed{s}.pt" if checkpoints else None

    def record(run: dict) -> None:
        state["runs"].append(run)
        q8 = f", int8 {run['si_snri_int8']:.2f} dB" if run.get("si_snri_int8") is not None else ""
        _say(f"sweep: {run['variant']} seed {run['seed']}: SI-SNRi {run['si_snri']:.2f} dB{q8} ({run['train_seconds']:.0f}s)")
        _write(out_dir, base, variants, state)

    if jobs <= 1:
        for v, s in todo:
            record(run_one(base, v, s, st, ckpt(v, s), threads))
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(run_one, base, v, s, st, ckpt(v, s), threads) for v, s in todo]
            for fut in as_completed(futures):
                record(fut.result())
    return _write(out_dir, base, variants, state)


def _previous_runs(path: Path, state: dict) -> dict[tuple[str, int], dict]:
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    same = json.loads(json.dumps({"config": state["config"], "settings": state["settings"]}))  # tuples -> lists
    # config fields and settings added since the file was written take their defaults (which keep the old
    # behaviour): a sweep.json from before them resumes
    old_config = {**_defaults(UNetConfig), **old.get("config", {})}
    old_settings = {**_defaults(Settings), **old.get("settings", {})}
    if old_config != same["config"] or old_settings != same["settings"]:
        raise SoiError(f"{path} holds a sweep with other settings; use another output folder or delete it")
    return {(r["variant"], r["seed"]): r for r in old.get("runs", [])}


def _defaults(cls) -> dict:
    """JSON form of the dataclass fields that have a default."""
    return json.loads(json.dumps({f.name: f.default for f in dataclasses.fields(cls)
                                  if f.default is not dataclasses.MISSING}))


def rows_of(base: UNetConfig, variants: list[str], runs: list[dict]) -> list[dict]:
    cx = {c.variant: c for c in complexity(base, variants)}
    by_variant = {v: [r["si_snri"] for r in runs if r["variant"] == v] for v in variants}
    stmc_mean = summary(by_variant["stmc"])[0] if by_variant.get("stmc") else float("nan")
    rows = []
    for v in variants:
        if not by_variant[v]:
            continue
        mean, std = summary(by_variant[v])
        rows.append({"variant": v, "label": paper_label(v), "seeds": len(by_variant[v]), "si_snri_mean": mean,
                     "si_snri_std": std, "si_snri_retained": mean / stmc_mean, "mmac_s": cx[v].avg_mmac_s,
                     "mmac_s_retained": cx[v].retained, "precomputed_share": cx[v].precomputed_share})
        int8 = [r["si_snri_int8"] for r in runs if r["variant"] == v and r.get("si_snri_int8") is not None]
        if len(int8) == len(by_variant[v]):
            rows[-1]["si_snri_int8_mean"], rows[-1]["si_snri_int8_std"] = summary(int8)
    return rows


def paper_label(variant: str) -> str:
    """'scc:1+3' -> '2xS-CC 13', as the paper names its models."""
    if variant == "stmc":
        return "STMC"
    if variant.startswith("fp:"):
        p, q = variant[3:].split("/")
        return f"S-CC {p} + SC {q}"
    parts = parse_variant(variant)
    kind = next(k for k, v in parts.items() if v)
    pos = parts[kind]
    name = {"scc": "S-CC", "sscc": "SS-CC", "sc": "SC"}[kind]
    return f"{'2x' if len(pos) > 1 else ''}{name} {''.join(str(p) for p in pos)}"


def format_table(rows: list[dict], stmc_row_first: bool = True) -> str:
    int8 = bool(rows) and all("si_snri_int8_mean" in r for r in rows)
    lines = ["| Model | SI-SNRi (dB) | " + ("SI-SNRi int8 (dB) | " if int8 else "") +
             "SI-SNRi retained (%) | Complexity (MMAC/s) | Complexity retained (%) | Precomputed (%) |",
             "|---|---|---|---|---|---|" + ("---|" if int8 else "")]
    for r in rows:
        q8 = f"{r['si_snri_int8_mean']:.2f} ± {r['si_snri_int8_std']:.2f} | " if int8 else ""
        lines.append(f"| {r['label']} | {r['si_snri_mean']:.2f} ± {r['si_snri_std']:.2f} | {q8}{100 * r['si_snri_retained']:.1f} | "
                     f"{r['mmac_s']:.2f} | {100 * r['mmac_s_retained']:.1f} | {100 * r['precomputed_share']:.1f} |")
    return "\n".join(lines) + "\n"


def _write(out_dir: Path, base: UNetConfig, variants: list[str], state: dict) -> dict:
    state["rows"] = rows_of(base, variants, state["runs"])
    runs = state["runs"]
    if runs:
        state["reference"] = {"si_snr_noisy": runs[0]["si_snr_noisy"], "si_snri_identity": 0.0,
                              "si_snr_oracle": runs[0]["si_snr_oracle"], "si_snri_oracle": runs[0]["si_snri_oracle"]}
    (out_dir / "sweep.json").write_text(json.dumps(state, indent=2) + "\n")
    (out_dir / "table.md").write_text(format_table(state["rows"]))
    _plot(state["rows"], out_dir / "sweep.png", base.name)
    return state


def _plot(rows: list[dict], path: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _say("matplotlib is not installed: no sweep.png (pip install matplotlib)")
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        marker = "s" if r["variant"] == "stmc" else "o" if r["variant"].startswith("scc") else "^"
        ax.errorbar(r["mmac_s"], r["si_snri_mean"], yerr=r["si_snri_std"], fmt=marker, capsize=3)
        ax.annotate(r["label"], (r["mmac_s"], r["si_snri_mean"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("complexity (MMAC/s, analytic average)")
    ax.set_ylabel("SI-SNRi (dB), mean ± std over seeds")
    ax.set_title(f"{title}: SOI variants on synthetic speech in noise")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _slug(variant: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in variant)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_from_args(args: argparse.Namespace) -> int:
    check_training_numbers(args)  # before any utterance is synthesized
    st = Settings(steps=args.steps, batch=args.batch, seconds=args.seconds, lr=args.lr, eval_count=args.eval_count,
                  int8=args.int8)
    state = sweep(Path(args.config), variant_list(args.variants),
                  [int(s) for s in args.seeds.split(",")], args.steps, Path(args.out), jobs=args.jobs,
                  threads=args.threads, settings=st, checkpoints=args.checkpoints)
    print(format_table(state["rows"]), end="")
    print(f"wrote {Path(args.out) / 'sweep.json'}, table.md, sweep.png")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m soi_mcu.train.sweep", description="train and evaluate SOI variants")
    add_arguments(p)
    try:
        return run_from_args(p.parse_args(argv))
    except SoiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
