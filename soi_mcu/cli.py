"""The `soi-mcu` command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from soi_mcu import __version__
from soi_mcu.errors import EXIT_INTERRUPTED, SoiError
from soi_mcu.train.args import evaluate_arguments, sweep_arguments, train_arguments


def _cmd_demo(args: argparse.Namespace) -> int:
    from soi_mcu.pipeline import demo

    report = demo(args.board, args.frames, Path(args.out), backend=args.backend)
    print(f"report: {Path(args.out) / 'report.json'}")
    return 0 if report.bitexact else 1


def _cmd_boards(args: argparse.Namespace) -> int:
    from soi_mcu.target.boards import list_boards, load_board

    boards = [load_board(name) for name in list_boards()]
    if args.json:
        print(json.dumps([{"name": b.name, "core": b.core, "clock_hz": b.clock_hz, "flash_bytes": b.flash_size,
                           "ram_bytes": b.ram_size, "stack_bytes": b.stack_size, "simulators": list(b.simulators),
                           "description": b.description} for b in boards], indent=2))
        return 0
    for b in boards:
        sims = ",".join(b.simulators) or "-"
        print(f"{b.name:18s} {b.core:11s} {b.clock_hz / 1e6:6.0f} MHz  flash {b.flash_size // 1024:5d} KiB  "
              f"RAM {b.ram_size // 1024:5d} KiB  {sims:6s} {b.description}")
    return 0


def _cmd_complexity(args: argparse.Namespace) -> int:
    from soi_mcu.model.config import load_config
    from soi_mcu.model.unet import all_variants
    from soi_mcu.report.complexity import complexity, complexity_json, format_complexity

    base = load_config(Path(args.config))
    variants = args.variants.split(",") if args.variants else all_variants(len(base.channels))
    rows = complexity(base, variants)
    print(complexity_json(rows) if args.json else format_complexity(rows, base.frame_rate_hz), end="" if args.json else "\n")
    return 0


def _cmd_profile(args: argparse.Namespace) -> int:
    from soi_mcu.model.config import load_config
    from soi_mcu.model.unet import variant_config
    from soi_mcu.profile import compare, format_profile, load_baseline, profile, write_outputs
    from soi_mcu.report.outputs import claimed
    from soi_mcu.report.quality import load_quality

    base = load_config(Path(args.config))
    # read before anything is built or written: --compare may be the profile.json this run replaces
    baseline = load_baseline(Path(args.compare)) if args.compare else None
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        variant_config(base, v)  # fail before any build on a typo or a bad position
    if args.quality and args.checkpoints:
        raise SoiError("give --quality (a sweep.json) or --checkpoints (a folder of checkpoints), not both")
    quality = load_quality(Path(args.quality) if args.quality else None)
    if args.checkpoints:
        # training-side evaluation; profile itself only takes the resulting Quality records
        from soi_mcu.train.quality import checkpoint_quality, find_checkpoints

        found = find_checkpoints(base, list(dict.fromkeys(["stmc", *variants])), Path(args.checkpoints))
        missing = [v for v, paths in found.items() if not paths]
        if missing:
            print(f"no checkpoint for {', '.join(missing)} in {args.checkpoints}: no quality for them", file=sys.stderr)
        source = None
        if args.data:
            from soi_mcu.train.speech_data import DnsFolder

            source = DnsFolder(Path(args.data), base.sample_rate)
        quality = checkpoint_quality(base, found, args.eval_count, args.eval_seconds, calibration_count=args.calibration,
                                     source=source)
    # from here on profile.json says "running" (then "failed" or the new figures); its CSV and plot go with it
    with claimed(Path(args.out), "profile.json", derived=("profile.csv", "profile.png")):
        rows = profile(base, args.board, variants, args.frames, Path(args.out), quality)
        print(format_profile(rows, args.board))
        for path in write_outputs(rows, args.board, Path(args.out)):
            print(f"wrote {path}")
    if baseline is not None:
        print(compare(rows, baseline))
    return 0 if all(r.bitexact for r in rows) else 1


def _cmd_generate(args: argparse.Namespace) -> int:
    from soi_mcu.model.source import load_model
    from soi_mcu.pipeline import generate_library_for

    model = load_model(args.model, args.variant, args.freq_bins, args.frame_rate)
    files = generate_library_for(model, args.board, Path(args.out), data=_data(args), api=args.name)
    if args.json:
        print(json.dumps({"out": args.out, "name": args.name, "files": [str(f) for f in files],
                          "sources": str(Path(args.out) / "sources.txt")}, indent=2))
    else:
        print(f"wrote {len(files)} files to {args.out} (sources: {Path(args.out) / 'sources.txt'})")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from soi_mcu.model.source import load_model
    from soi_mcu.pipeline import run
    from soi_mcu.report.run_report import format_layers, format_table

    model = load_model(args.model, args.variant, args.freq_bins, args.frame_rate)
    report = run(model, args.board, args.frames, Path(args.out), backend=args.backend, data=_data(args))
    if args.json:
        print(report.to_json(), end="")
        return 0 if report.bitexact else 1
    print(format_table(report))
    print(format_layers(report))
    print(f"report: {Path(args.out) / 'report.json'}")
    return 0 if report.bitexact else 1


def _cmd_analyze(args: argparse.Namespace) -> int:
    from soi_mcu.model.source import load_model
    from soi_mcu.pipeline import analyze_model
    from soi_mcu.report.analysis import format_analysis

    model = load_model(args.model, args.variant, args.freq_bins, args.frame_rate)
    result = analyze_model(model, args.board, Path(args.out), data=_data(args), quiet=args.json)
    print(result.to_json() if args.json else format_analysis(result), end="" if args.json else "\n")
    return 0 if result.fits else 1


def _cmd_train(args: argparse.Namespace) -> int:
    from soi_mcu.train.commands import train_from_args

    return train_from_args(args)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from soi_mcu.train.commands import evaluate_from_args

    return evaluate_from_args(args)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from soi_mcu.train.sweep import run_from_args

    return run_from_args(args)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from soi_mcu.target.doctor import doctor_main

    return doctor_main()


def _cmd_cache(args: argparse.Namespace) -> int:
    from soi_mcu.cache import cache_report, clear_cache, format_cache

    removed = clear_cache() if args.clear else []
    report = cache_report() | ({"removed": [str(p) for p in removed]} if args.clear else {})
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for path in removed:
        print(f"removed {path}")
    print(format_cache(report))
    return 0


def _data(args: argparse.Namespace) -> Path | None:
    return Path(args.calibration) if args.calibration else None


def _model_arguments(p: argparse.ArgumentParser) -> None:
    from soi_mcu.model.source import MODEL_HELP

    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--variant", default="", help="SOI variant to apply to a config (default: the config's own)")
    p.add_argument("--freq-bins", type=int, default=0, help="frequency bins of an input frame (PyTorch models)")
    p.add_argument("--board", default="mps2-an386", help="board name (see `soi-mcu boards`); the model must fit it")
    p.add_argument("--frame-rate", type=float, default=0.0, metavar="HZ",
                   help="input frames per second (sample rate / hop) for CPU load and the real-time verdict "
                   "(default: the model's own: a config's, a module's frame_rate_hz attribute, else 125)")
    p.add_argument("--calibration", default="", metavar="PATH",
                   help="your input frames: a .npy (time, freq, channels) or a folder of them; they calibrate the "
                   "int8 export and are what `run` streams (the report gives the int8 SNR on them)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="soi-mcu", description=__doc__)
    parser.add_argument("--version", action="version", version=f"soi-mcu {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run the whole pipeline on the demo S-CC model and print its cost")
    p.add_argument("--board", default="mps2-an386", help="board name (see `soi-mcu boards`)")
    p.add_argument("--frames", type=int, default=64, help="frames to stream through the firmware")
    p.add_argument("--out", default="out/demo", help="output folder (report.json, generated C, build)")
    p.add_argument("--backend", choices=("qemu", "renode"), default="qemu",
                   help="simulator: qemu (cycle estimates) or renode (Renode boards; virtual instruction counts)")
    p.set_defaults(func=_cmd_demo)
    p = sub.add_parser("boards", help="list the known boards")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_boards)
    p = sub.add_parser("complexity", help="analytic MMAC/s of SOI variants of a U-Net config")
    p.add_argument("config", help="model config (TOML), e.g. configs/unet-mcu-s.toml")
    p.add_argument("--variants", default="", help="comma-separated variants (default: all); "
                   "stmc, scc:P, scc:P+Q, sscc:P, sc:P, fp:P/Q")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_complexity)
    p = sub.add_parser("run", help="the whole pipeline on your model: int8, C, firmware, simulator, report")
    _model_arguments(p)
    p.add_argument("--frames", type=int, default=64, help="frames to stream through the firmware")
    p.add_argument("--out", default="out/run", help="output folder (report.json, generated C, build)")
    p.add_argument("--backend", choices=("qemu", "renode"), default="qemu", help="simulator")
    p.add_argument("--json", action="store_true", help="print report.json's content instead of the tables")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("analyze", help="per-layer MACs, weights, state, activations, scratch and code of a model, "
                       "and whether it fits the board: no firmware built")
    _model_arguments(p)
    p.add_argument("--out", default="out/analyze", help="working folder (the .tflite and the generated model C)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_analyze)
    p = sub.add_parser("generate", help="write a model as a self-contained C library for your firmware")
    _model_arguments(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--name", default="soi_model", help="prefix of the library's functions, macros and files "
                   "(NAME_step(), NAME_INPUT_SIZE, model/NAME.c), so that several models link into one firmware")
    p.add_argument("--json", action="store_true", help="print the written files as JSON")
    p.set_defaults(func=_cmd_generate)
    p = sub.add_parser("profile", help="build and simulate SOI variants of a config on a board, compare with STMC")
    p.add_argument("config", help="model config (TOML), e.g. configs/unet-mcu-s.toml")
    p.add_argument("--board", default="mps2-an386", help="board name (see `soi-mcu boards`)")
    p.add_argument("--variants", default="stmc,scc:2,scc:5,scc:1+3,sscc:3,fp:1/6",
                   help="comma-separated: stmc, scc:P, scc:P+Q, sscc:P, sc:P, fp:P/Q")
    p.add_argument("--frames", type=int, default=32, help="frames to simulate per variant")
    p.add_argument("--out", default="out/profile", help="output folder (profile.json, .csv, .png)")
    p.add_argument("--compare", default="", help="an earlier profile.json: print the deltas")
    p.add_argument("--quality", default="", help="a sweep.json from `soi-mcu sweep`: add each variant's SI-SNRi "
                   "and plot quality against measured cycles")
    p.add_argument("--checkpoints", default="", help="a folder of checkpoints of this config (`soi-mcu sweep --checkpoints` "
                   "OUT, or `soi-mcu train --out` files): each variant's float and int8 SI-SNRi on one held-out set, "
                   "averaged over its checkpoints, plotted against measured cycles")
    p.add_argument("--eval-count", type=int, default=64, help="held-out mixtures for --checkpoints")
    p.add_argument("--eval-seconds", type=float, default=2.0, help="length of each held-out mixture for --checkpoints")
    p.add_argument("--calibration", type=int, default=16, help="training-split mixtures that calibrate the int8 "
                   "export for --checkpoints")
    p.add_argument("--data", default="", help="DNS-style folder (clean/, noise/) for --checkpoints' held-out and "
                   "calibration mixtures (default: synthetic speech in noise)")
    p.set_defaults(func=_cmd_profile)
    p = sub.add_parser("train", help="train a U-Net variant on synthetic speech in noise (or a DNS-style folder); "
                       "`train scenes`: the scene classifier on generated acoustic scenes")
    train_arguments(p)
    p.set_defaults(func=_cmd_train)
    p = sub.add_parser("evaluate", aliases=["eval"],
                       help="float and int8 quality of a checkpoint on a held-out set: SI-SNRi (U-Net) "
                       "or top-1 accuracy (scene classifier)")
    evaluate_arguments(p)
    p.set_defaults(func=_cmd_evaluate)
    p = sub.add_parser("sweep", help="train and evaluate SOI variants over seeds: a table like the paper's Table 1")
    sweep_arguments(p)
    p.set_defaults(func=_cmd_sweep)
    p = sub.add_parser("cache", help="where the cache is ($SOI_MCU_CACHE, else ~/.cache/soi-mcu) and what it holds")
    p.add_argument("--clear", action="store_true", help="remove every stage's cached entries first (they are rebuilt "
                   "on next use)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_cache)
    p = sub.add_parser("doctor", help="check the toolchain, simulators and Python packages; say how to fix what is missing")
    p.set_defaults(func=_cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SoiError as exc:  # 2: bad input, 3: toolchain or simulator (soi_mcu/errors.py)
        print(f"soi-mcu: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    except KeyboardInterrupt:
        print("soi-mcu: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
