"""The `inrcodec` command: encode, decode, info, bases, train, eval.

A thin layer over inrcodec.api (imported by the commands, so --help stays quick): arguments in,
printing and progress bars out. Results go to stdout (one line, or JSON with --json); progress and
errors go to stderr. Exit codes: 0 ok, 1 bad input or file (one-line error), 2 usage error (argparse).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from inrcodec import __version__
from inrcodec.errors import FormatError, InputError, LossWarning

EFFORTS = ("fast", "default")  # Their schedules: api.default_fit.
DISTORTIONS = ("perceptual", "psnr")  # Of audio fits: signals.masking.DISTORTIONS (the CLI imports only the API).
RATE_UNITS = ("bpp", "kbps", "bits per field")  # Units of --bpp, --kbps, --bits-per-field (dest: spaces as _).

EXIT_INPUT = 1
INR_SUFFIX = ".inr"  # What `encode` writes and the suffix `decode` picks from a folder.
COMPILING_COMMANDS = ("encode", "eval", "train")  # Commands that run JAX programs (decoding runs none).

HELP = """\
inrcodec stores an image, a sound or a climate field as a few entropy-coded modulations of a
shared, meta-learned SIREN base network (shipped with the package) and decodes it back.

examples:
  inrcodec encode photo.png                 # writes photo.inr (quality 4)
  inrcodec encode photo.png --quality 6     # larger file, higher fidelity (1..8)
  inrcodec encode photo.png --bpp 0.25      # best quality within 0.25 bits per pixel
  inrcodec encode speech.flac --kbps 16     # audio (WAV, FLAC)
  inrcodec encode t2m.grib --var t2m        # climate fields (netCDF, GRIB, .npy, .npz)
  inrcodec decode photo.inr                 # writes photo.png (.wav, .nc); never over an existing file
  inrcodec encode photos/ -o encoded/       # every image, sound or field file in photos/ -> encoded/<name>.inr
  inrcodec decode a.inr b.inr -o decoded/   # several files: decoded/a.png, decoded/b.png
  inrcodec info photo.inr                   # header fields, base network, rate
"""


def _progress_bar(desc: str, enabled: bool):
    """Returns (callback(done, total), close()) drawing a tqdm bar on stderr once work starts.

    Until the first steps are done the bar says the fit is being prepared (compiled, or loaded from the
    cache); its clock restarts then, so the rate and ETA count fitting steps only.
    """
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    state: dict = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = tqdm(total=total, desc=f"{desc}: preparing the fit (compiled on a first run at this size)", unit="step",
                                file=sys.stderr, leave=False, dynamic_ncols=True)
            state["compiling"] = True
        bar = state["bar"]
        if state["compiling"] and done > 0:
            state["compiling"] = False
            bar.set_description(desc)
            bar.reset(total=total)  # Restarts the clock, and the rate counts from these steps: compiling is not a step.
            bar.initial = done
        if bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.refresh()

    return update, lambda: state["bar"].close() if "bar" in state else None


@contextlib.contextmanager
def _piped(args: argparse.Namespace, output_suffix):
    """(input path, output path, where the result line goes) with "-" as standard input or output: the
    piped bytes go through files in a temporary folder, so the API sees paths (and checks them) as usual.

    `output_suffix(input bytes or None)` is the suffix of a piped output.
    """
    from inrcodec import api

    with tempfile.TemporaryDirectory(prefix="inrcodec-pipe-") as folder:
        src, data = Path(args.inputs[0]), None
        if args.inputs[0] == "-":
            data = sys.stdin.buffer.read()
            src = Path(folder) / f"stdin{api.suffix_of(data, getattr(args, 'modality', None))}"
            src.write_bytes(data)
            if not args.output:
                raise InputError("standard input needs -o (a file, or - for standard output)")
        out = Path(args.output) if args.output and args.output != "-" else None
        if args.output == "-":
            out = Path(folder) / f"out{output_suffix(src)}"
        yield src, out, sys.stderr if args.output == "-" else sys.stdout
        if args.output == "-" and out.exists():
            sys.stdout.buffer.write(out.read_bytes())
            sys.stdout.buffer.flush()


def _is_batch(inputs: list[str]) -> bool:
    """Whether the inputs are several files or a folder (each output then goes into the -o folder)."""
    return len(inputs) > 1 or any(p != "-" and Path(p).is_dir() for p in inputs)


def _run_batch(args: argparse.Namespace, files: list[Path], output_of, work, done: str) -> int:
    """Runs `work(src, out, position)` on each file in turn (one process: same-size fits compile once).

    `output_of(src, folder)` is a file's output (folder: the -o folder, or None). A failing file prints
    its one-line error and the others still run; a summary line ends the run. Exit 1 if any failed.
    """
    folder = Path(args.output) if args.output else None
    if folder and folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: not a directory (with several inputs, -o names a folder)")
    planned = []
    for src in files:
        try:
            planned.append((src, output_of(src, folder), None))
        except (InputError, FormatError) as e:  # Reported in its turn, like a failure while working.
            planned.append((src, None, e))
    writers: dict[Path, Path] = {}
    for src, out, _ in planned:
        if out is not None and out.resolve() in writers:
            first = writers[out.resolve()]
            raise InputError(f"{src}: given twice" if first.resolve() == src.resolve() else
                             f"{first} and {src} would both write {out}")
        if out is not None:
            writers[out.resolve()] = src
    if folder:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"{folder}: cannot create the output directory ({e.strerror})") from None
    failed = 0
    for n, (src, out, error) in enumerate(planned, 1):
        try:
            if error:
                raise error
            work(src, out, f" ({n}/{len(planned)})")
        except (InputError, FormatError) as e:
            failed += 1
            message = str(e)
            print(f"inrcodec: error: {message if message.startswith(str(src)) else f'{src}: {message}'}",
                  file=sys.stderr)
    print(f"inrcodec: {len(planned) - failed} {done}, {failed} failed", file=sys.stderr)
    return EXIT_INPUT if failed else 0


def cmd_encode(args: argparse.Namespace) -> int:
    if _is_batch(args.inputs):
        from inrcodec import api

        files = api.expand_inputs(args.inputs, api.encodable_suffixes(args.modality, args.base))
        return _run_batch(args, files, lambda src, folder: (folder or src.parent) / (src.stem + INR_SUFFIX),
                          lambda src, out, position: _encode(args, src, out, sys.stdout, position), "encoded")
    with _piped(args, lambda src: INR_SUFFIX) as (src, out, report):
        return _encode(args, src, out or src.with_suffix(INR_SUFFIX), report)


def _encode(args: argparse.Namespace, src: Path, out: Path, report, position: str = "") -> int:
    """Encodes one file; `position` (" (2/3)") marks a file of a batch."""
    from inrcodec import api

    update, close = _progress_bar(f"encoding {src.name}{position}", not args.quiet)
    given = [(u, getattr(args, u.replace(" ", "_"))) for u in RATE_UNITS]
    target_unit, target = next(((u, t) for u, t in given if t is not None), (None, None))
    try:
        result = api.encode_file(
            src, out, quality=args.quality, rate=target, rate_unit=target_unit, strict=args.strict,
            base=args.base, modality=args.modality, var=args.var, force=args.force, seed=args.seed,
            fit_steps=args.fit_steps, effort=args.effort, progress=update,
            max_error=args.max_error, rel_error=args.rel_error, distortion=args.distortion,
        )
    finally:
        close()
    unit = result.rate_unit.replace(" ", "_")
    metrics = {k: round(v, 4) for k, v in result.metrics.items() if k != "psnr"}
    searched = result.target is not None
    search = {"levels_tried": result.levels_tried, "target_missed": result.target_missed} if searched else {}
    shown = "-" if args.output == "-" else str(out)  # Standard output, not the temporary file behind it.
    line = {"output": shown, "bytes": len(result.data), unit: round(result.rate, 4), "psnr": round(result.psnr, 2),
            **metrics, "quality": result.quality, **search, "seconds": round(result.seconds, 2)}
    extra = "".join(f", {k} {v}" for k, v in metrics.items())
    n = result.levels_tried
    tried = f" ({n} level{'s' * (n != 1)} tried)" if searched else ""
    print(json.dumps(line) if args.json else
          f"{shown}: {line['bytes']} bytes, {line[unit]} {result.rate_unit}, PSNR {line['psnr']} dB{extra}, "
          f"quality {line['quality']}{tried}, {line['seconds']} s", file=report)
    if result.target_missed:
        named = f"{src}: " if position else ""  # Which file of a batch.
        print(f"inrcodec: warning: {named}target {result.target:g} {result.rate_unit} not reached: the smallest "
              f"quality level ({result.quality}) gives {line[unit]} {result.rate_unit}", file=sys.stderr)
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from inrcodec import api

    if _is_batch(args.inputs):
        def output_of(src: Path, folder: Path | None) -> Path:
            default = api.default_output(src, api.read_inr(src))
            return folder / default.name if folder else default

        # Without -o each file gets decode's own default (and its refusal to overwrite), as alone.
        return _run_batch(args, api.expand_inputs(args.inputs, (INR_SUFFIX,)), output_of,
                          lambda src, out, position: _decode(args, src, out if args.output else None, sys.stdout,
                                                             time.perf_counter()), "decoded")
    started = time.perf_counter()
    with _piped(args, lambda src: api.default_output(src, api.read_inr(src)).suffix) as (src, out, report):
        return _decode(args, src, out, report, started)


def _decode(args: argparse.Namespace, src: Path, out: Path | None, report, started: float) -> int:
    """Decodes one file and prints its result line (timed from `started`)."""
    from inrcodec import api

    out, decoded = api.decode_file(src, out, force=args.force)
    seconds = time.perf_counter() - started
    summary, shown = api.summary(decoded), "-" if args.output == "-" else str(out)
    print(json.dumps({"output": shown, "summary": summary, "seconds": round(seconds, 2)}) if args.json else
          f"{shown}: {summary}, {seconds:.2f} s", file=report)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from inrcodec import api

    info = api.info(args.input)
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        for k, v in info.items():
            print(f"{k:>16}: {v}")
    return 0


def cmd_bases(args: argparse.Namespace) -> int:
    from inrcodec import api

    for m in api.list_bases():
        sparsity = m.get("sparsity")
        density = f"  {sparsity['method']} density {sparsity['density']:.3f}" if sparsity else ""
        print(f"{m['name']:<20} {m['modality']:<8} id {m['base_id']}  {m['params_bytes']} bytes  "
              f"{m['macs_per_sample']} MAC/sample{density}  {m['path']}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from inrcodec import api

    cfg = api.train_config(args.recipe, minutes=args.minutes, steps=args.steps, density=args.density,
                           sparsity=args.sparsity)
    from tqdm import tqdm

    state: dict = {}

    def progress(step: int, metrics: dict) -> None:
        if "bar" not in state:  # Created on the first step, so input errors print alone.
            state["bar"] = tqdm(total=cfg.steps, initial=step - 1, desc=f"meta-training {cfg.name}", unit="step",
                                file=sys.stderr, dynamic_ncols=True)
        bar = state["bar"]
        bar.n = step
        bar.set_postfix(psnr=f"{metrics['psnr']:.2f}", bpp=f"{metrics['bpp']:.3f}", refresh=False)
        bar.refresh()

    try:
        base = api.train(cfg, args.data, args.out, progress)
    finally:
        if "bar" in state:
            state["bar"].close()
    sparsity = base.manifest.get("sparsity")
    density = f", {sparsity['method']} density {sparsity['density']:.4f} (target {sparsity['target_density']})" if sparsity else ""
    print(f"{args.out}: base {base.name} id {base.base_id.hex()}, {base.nbytes} bytes (compact "
          f"{base.manifest['compact_bytes']}){density}, {base.manifest['training']['steps']} steps")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import shlex

    from tqdm import tqdm

    from inrcodec import api

    try:
        qualities = [int(q) for q in args.quality.split(",") if q.strip()]
    except ValueError:
        raise InputError(f"--quality takes comma-separated integers, got {args.quality!r}") from None
    names = None if args.baselines is None else [b.strip() for b in args.baselines.split(",") if b.strip()]
    state: dict = {}

    def log(line: str) -> None:
        if "bar" in state:
            state["bar"].write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def progress(done: int, total: int, label: str) -> None:
        if args.quiet:
            return
        if "bar" not in state:
            state["bar"] = tqdm(total=total, desc="eval", unit="item", file=sys.stderr, leave=False, dynamic_ncols=True)
        bar = state["bar"]
        bar.set_description(label, refresh=False)
        bar.n = done
        bar.refresh()

    data = [Path(d) for d in args.data]
    out = Path(args.out) if args.out else Path("results") / (data[0].stem if data[0].is_file() else data[0].resolve().name)
    options = {"modality": args.modality, "quality": args.quality, "baselines": args.baselines, "out": out,
               "limit": args.limit, "base": args.base, "effort": args.effort, "fit-steps": args.fit_steps, "var": args.var,
               "seconds": args.seconds, "target": args.distortion}
    command = shlex.join(["inrcodec", "eval", *args.data, *(x for k, v in options.items() if v is not None
                                                            for x in (f"--{k}", str(v)))])
    try:
        written, bd = api.evaluate(data, qualities, out, names, modality=args.modality, limit=args.limit,
                                   base=args.base, fit_steps=args.fit_steps, effort=args.effort, var=args.var,
                                   seconds=args.seconds, distortion=args.distortion,
                                   command=command, log=log, progress=progress)
    finally:
        if "bar" in state:
            state["bar"].close()
    for line in api.evaluation_summary(written, bd):
        print(line)
    print(f"{out}: inrcodec.json, {len(written) - 1} baseline file(s), bd.json, report.md" + (", rd.png" if bd["plot"] else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inrcodec", description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"inrcodec {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    e = sub.add_parser("encode", help="compress an image, a WAV/FLAC or a climate field to .inr")
    e.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image (PNG, JPEG, ...), audio (WAV, FLAC) or climate (netCDF, GRIB, .npy, .npz) file, or a "
                   "folder of them (not recursive); - reads standard input")
    e.add_argument("-o", "--output", help="output .inr file (default: input with .inr suffix); - writes standard output; "
                   "with several inputs or a folder: the output folder (created if missing)")
    rate = e.add_mutually_exclusive_group()
    rate.add_argument("-q", "--quality", type=int, default=None, metavar="N",
                      help="quality level of the base network, 1 (smallest) .. 8 (best) for the shipped bases; "
                      "default 4")
    rate.add_argument("--bpp", type=float, help="images: target bits per pixel (the best quality level that fits)")
    rate.add_argument("--kbps", type=float, help="audio: target kilobits per second")
    rate.add_argument("--bits-per-field", type=float, help="climate: target bits per 2-D field")
    bound = e.add_mutually_exclusive_group()
    bound.add_argument("--max-error", type=float, metavar="E",
                       help="climate: every decoded value within E of the original (the variable's units)")
    bound.add_argument("--rel-error", type=float, metavar="R",
                       help="climate: every decoded value within R times the field's value range of the original")
    e.add_argument("--target", "--distortion", dest="distortion", choices=DISTORTIONS,
                   help="audio: what the fit minimises: perceptual (default; the error weighted by how audible it "
                   "is) or psnr (the waveform's squared error, as COIN++)")
    e.add_argument("--strict", action="store_true",
                   help="with a rate target: fail (exit 1, no output) when even the smallest quality level exceeds "
                   "it, instead of warning")
    e.add_argument("--modality", choices=("image", "audio", "climate"), help="override the modality told by the suffix")
    e.add_argument("--var", help="climate: the variable to encode (default: the only gridded one)")
    e.add_argument("--base", help="base network name or directory (default: the shipped base of the modality)")
    e.add_argument("--seed", type=int, default=0, help="seed of the fit's noise (same seed: same bytes)")
    e.add_argument("--effort", choices=EFFORTS, default=None,
                   help="encoder effort: fast (a short schedule of the base's, lower quality) or default")
    e.add_argument("--fit-steps", type=int, default=None, metavar="N",
                   help="refinement steps after the meta-learned ones (default: the base's; overrides --effort)")
    e.add_argument("-f", "--force", action="store_true", help="overwrite the output if it exists")
    e.add_argument("--json", action="store_true", help="print the result line as JSON")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=cmd_encode, usage_error=e.error)

    d = sub.add_parser("decode", help="decompress a .inr file to PNG, WAV/FLAC or netCDF")
    d.add_argument("inputs", nargs="+", metavar="INPUT",
                   help=".inr file, or a folder of them (not recursive); - reads standard input")
    d.add_argument("-o", "--output", help="output file (default: the input's name with .png, .wav or .nc); "
                   "- writes the file to standard output; with several inputs or a folder: the output folder "
                   "(created if missing)")
    d.add_argument("-f", "--force", action="store_true", help="overwrite the output if it exists")
    d.add_argument("--json", action="store_true", help="print the result line as JSON")
    d.set_defaults(func=cmd_decode, usage_error=d.error)

    i = sub.add_parser("info", help="show the header of a .inr file")
    i.add_argument("input", help=".inr file")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=cmd_info)

    b = sub.add_parser("bases", help="list installed base networks")
    b.set_defaults(func=cmd_bases)

    t = sub.add_parser("train", help="meta-learn a base network (resumes from OUT/checkpoint.npz)")
    t.add_argument("--recipe", required=True, help="Python file with get_config() -> TrainConfig (see meta/recipes)")
    t.add_argument("--data", required=True, nargs="+", help="training data: image or audio files or folders, or climate folders with a FIELDS.csv")
    t.add_argument("--out", required=True, help="output directory for the base, its record and checkpoint")
    t.add_argument("--minutes", type=float, help="override the recipe's wall-clock budget")
    t.add_argument("--steps", type=int, help="override the recipe's number of outer steps")
    t.add_argument("--density", type=float, help="target fraction of weights kept, in (0, 1] (sparse base; "
                   "below 1 without --sparsity: l0-unstructured)")
    t.add_argument("--sparsity", choices=("none", "l0-unstructured", "l0-structured", "magnitude", "random"),
                   help="override the recipe's sparsity method (see meta/README.md, 'Sparse base networks')")
    t.set_defaults(func=cmd_train)

    v = sub.add_parser("eval", help="rate-distortion benchmark vs classical codecs and published anchors",
                       description="Encodes every item of DATA at each quality level, decodes the bytes, measures "
                       "rate and distortion, runs the baseline codecs at inrcodec's per-item rates, and writes "
                       "CompressAI-schema JSON, bd.json (BD-rate/BD-PSNR), report.md and rd.png to --out.")
    v.add_argument("data", nargs="+", metavar="DATA",
                   help="files or folders of images, WAV/FLAC or climate fields (e.g. ../shared/data/images/kodak)")
    v.add_argument("--modality", choices=("image", "audio", "climate"), help="default: told by the files' suffixes")
    v.add_argument("--quality", default="1,2,3,4,5,6", help="comma-separated quality levels (default 1,2,3,4,5,6)")
    v.add_argument("--baselines", default=None,
                   help="comma-separated codecs (empty for none); default per modality: image jpeg,webp,avif,"
                   "jpeg2000,jxl,x265; audio mp3,opus; climate sz3,zfp")
    v.add_argument("--out", default=None, help="output folder (default results/<name of the first DATA>)")
    v.add_argument("--limit", type=int, help="only the first N items")
    v.add_argument("--base", help="base network name or directory (default: the modality's shipped base)")
    v.add_argument("--effort", choices=EFFORTS, default=None, help="encoder effort (see encode --effort)")
    v.add_argument("--fit-steps", type=int, default=None, metavar="N", help="refinement steps per encode (default: the base's)")
    v.add_argument("--var", help="climate: the variable to read from each file")
    v.add_argument("--seconds", type=float, metavar="S", help="audio: evaluate the first S seconds of each clip (COIN++: 3)")
    v.add_argument("--target", "--distortion", dest="distortion", choices=DISTORTIONS,
                   help="audio: what the fit minimises (see encode --target)")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(func=cmd_eval)
    return p


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line each on stderr, like the errors."""
    print(f"inrcodec: warning: {message}", file=sys.stderr)


def _check_inputs(args: argparse.Namespace) -> None:
    """Usage errors (exit 2, the command's usage) of several inputs: "-" among them, or "-o -" for them."""
    inputs = getattr(args, "inputs", None)
    if inputs and len(inputs) > 1 and "-" in inputs:
        args.usage_error("- (standard input) cannot be combined with other inputs")
    if inputs and args.output == "-" and _is_batch(inputs):
        args.usage_error("-o - (standard output) takes a single input file")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _check_inputs(args)
    if getattr(args, "command", None) in COMPILING_COMMANDS:
        from inrcodec import api

        api.use_compilation_cache()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", LossWarning)
            warnings.showwarning = _show_warning
            return args.func(args)
    except (InputError, FormatError) as e:
        print(f"inrcodec: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("inrcodec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (e.g. `inrcodec info f.inr | head -1`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
