"""The public Python API (orchestration only): encode, encode_file, decode, decode_file, info, the
base networks and their quality levels, and meta-training and evaluation runs.

The modality comes from the input (in-memory signal type, or file suffix) unless given; each
modality's plug-in (inrcodec.modalities) does the work. Training and evaluation are imported only
by the functions that run them.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from inrcodec.core import bases
from inrcodec import modalities
from inrcodec._io import atomic_write, check_writable
from inrcodec.bitstream import container, files
from inrcodec.core.config import DEFAULT_QUALITY, NO_FIT, QUALITY_LAMBDAS, FitConfig, ModelConfig
from inrcodec.errors import InputError
from inrcodec.modalities import Modality
from inrcodec.modalities.common import Decoded, EncodeResult, Progress

if TYPE_CHECKING:
    from inrcodec.dataset import Archive
    from inrcodec.training.train import TrainConfig


def load_default_base(ref: str | None = None, modality: str = "image") -> bases.Base:
    """The named (or directory) base, else the shipped default base of `modality`."""
    return bases.load_base(ref or bases.DEFAULT_BASES[modality])


def default_fit(base: bases.Base, steps: int | None = None, effort: str | None = None) -> FitConfig:
    """The encoder schedule of a base (codec.default_fit): its manifest's "fit", with `steps` steps if given,
    else the schedule of an encoder `effort` ("fast", "default"; EFFORT_STEPS)."""
    from inrcodec import codec

    return codec.default_fit(base, steps, effort)


def qualities(base: bases.Base) -> list[int]:
    """The quality levels of a base: its manifest's ladder ("quality_lambdas"), else the default 1..8."""
    return sorted(int(q) for q in base.manifest.get("quality_lambdas", QUALITY_LAMBDAS))


def _check_quality(base: bases.Base, quality: int) -> None:
    if quality not in qualities(base):
        raise InputError(f"quality {quality} is not one of the levels {qualities(base)} of base network {base.name!r}")


def list_bases() -> list[dict]:
    """The installed base networks: their manifests, with "path" and "macs_per_sample" (multiply-adds
    per decoded sample)."""
    return [{**m, "macs_per_sample": ModelConfig.from_dict(m["model"]).macs_per_sample()} for m in bases.list_bases()]


def encode(
    signal: Any,
    *,
    quality: int | None = None,
    rate: float | None = None,
    bpp: float | None = None,
    rate_unit: str | None = None,
    strict: bool = False,
    base: str | bases.Base | None = None,
    modality: str | None = None,
    seed: int = 0,
    fit: FitConfig | None = None,
    fit_steps: int | None = None,
    effort: str | None = None,
    progress: Progress | None = None,
    max_error: float | None = None,
    rel_error: float | None = None,
    distortion: str | None = None,
) -> EncodeResult:
    """Encodes a signal at a quality level of the base (`qualities`; default DEFAULT_QUALITY) or at the
    best level within a rate target.

    Args:
      signal: image array (H, W, C) uint8/uint16, signals.audio.Audio, signals.climate.Field or an
        xarray.DataArray.
      rate: target in the modality's unit (bpp, kbps or bits per field); `bpp` is its image alias.
      rate_unit: the unit `rate` is given in, if known ("bpp" with `bpp`): InputError unless it is the modality's.
      strict: InputError when even the smallest level exceeds the target; otherwise that level's result
        comes back with `target_missed` set.
      fit: the encoder's schedule (default: the base's, `default_fit`, with `fit_steps` steps if given,
        else that of the encoder `effort`: "fast" or "default").
      max_error, rel_error: climate: every decoded value within this absolute bound (the variable's
        units), or this fraction of the values' range, of the original. The network is then not
        fitted (quality NO_FIT = 0, the base's own field predicts) unless a quality level is given.
      distortion: audio: what the fit minimises, "perceptual" (the default: the error weighted by how
        audible it is, signals.masking) or "psnr" (the waveform's squared error, COIN++'s metric).
    """
    fmt = modalities.by_name(modality) if modality else modalities.for_signal(signal)
    target = rate if rate is not None else bpp
    _check_rate_unit(fmt, _given_unit(rate, bpp, rate_unit))
    options = _encode_options(fmt, target, max_error=max_error, rel_error=rel_error, distortion=distortion)
    bounded = _bounded(options)
    base = base if isinstance(base, bases.Base) else load_default_base(base, fmt.NAME)
    modalities.check_base(base, fmt.NAME)
    native = fmt.native(signal)
    if quality is None and target is None:  # With an error bound the fit buys ~nothing (meta/README.md): skip it.
        quality = NO_FIT if bounded else DEFAULT_QUALITY
    no_fit = bounded and quality == NO_FIT
    fit = fit or (FitConfig() if no_fit else default_fit(base, fit_steps, effort))  # No fit: no JAX import either.
    if target is not None:
        if not target > 0:
            raise InputError(f"the rate target must be positive, got {target}")
        result = _encode_to_rate(native, fmt, base, target, fit, seed, progress, options)
        if strict and result.target_missed:
            raise InputError(f"the rate target {target:g} {fmt.RATE_UNIT} is out of reach: the smallest quality "
                             f"level ({result.quality}) gives {result.rate:.4g} {fmt.RATE_UNIT}")
        return result
    if not no_fit:
        _check_quality(base, quality)
    return fmt.encode(native, base, quality, fit, seed, progress, **options)


def _encode_options(fmt: Modality, target: float | None, **given) -> dict:
    """The options given (not None) that the modality's `encode` takes; InputError for any other."""
    options = {k: v for k, v in given.items() if v is not None}
    for option in options:
        if option not in fmt.ENCODE_OPTIONS:
            names = modalities.taking_option(option)
            raise InputError(f"--{option.replace('_', '-')} applies to {' and '.join(names)} signals, not {fmt.NAME}")
    if _bounded(options) and target is not None:
        raise InputError("an error bound and a rate target cannot be combined: the bound sets the rate")
    return options


def _bounded(options: dict) -> bool:
    """Whether the options set an error bound."""
    return "max_error" in options or "rel_error" in options


def _given_unit(rate: float | None, bpp: float | None, rate_unit: str | None) -> str | None:
    """The unit of the rate target: `rate_unit` for `rate`, "bpp" for the `bpp` alias, else None (unknown)."""
    return rate_unit if rate is not None else "bpp" if bpp is not None else None


def _check_rate_unit(fmt: Modality, unit: str | None, source: str = "") -> None:
    """InputError unless a rate target in `unit` (None: unknown) is in the modality's unit (RATE_UNIT).

    The message names the option of the right unit (`--bpp`, `--kbps`, `--bits-per-field`).
    """
    if unit is not None and unit != fmt.RATE_UNIT:
        flag = "--" + fmt.RATE_UNIT.replace(" ", "-")
        raise InputError(f"{source + ': ' if source else ''}{fmt.NAME} rate targets are in {fmt.RATE_UNIT} "
                         f"({flag}), not {unit}")


def _encode_to_rate(native, fmt: Modality, base: bases.Base, target: float, fit: FitConfig, seed: int,
                    progress: Progress | None, options: dict) -> EncodeResult:
    """Highest quality level within `target` (bisection: ~3 encodes); the lowest level if none fits.

    The result records the target, the levels tried and the wall time of all of them.
    """
    started = time.perf_counter()
    levels = qualities(base)
    lo, hi, best, tried = 0, len(levels) - 1, None, 0
    while lo <= hi:
        mid = (lo + hi) // 2
        result = fmt.encode(native, base, levels[mid], fit, seed, progress, **options)
        tried += 1
        if result.rate <= target:
            best, lo = result, mid + 1
        else:
            hi = mid - 1
            if mid == 0:
                best = best or result
    return dataclasses.replace(best, target=target, levels_tried=tried, seconds=time.perf_counter() - started)


def encode_file(
    src: str | Path,
    dst: str | Path,
    *,
    quality: int | None = None,
    rate: float | None = None,
    bpp: float | None = None,
    rate_unit: str | None = None,
    strict: bool = False,
    base: str | bases.Base | None = None,
    modality: str | None = None,
    var: str | None = None,
    force: bool = False,
    seed: int = 0,
    fit: FitConfig | None = None,
    fit_steps: int | None = None,
    effort: str | None = None,
    progress: Progress | None = None,
    max_error: float | None = None,
    rel_error: float | None = None,
    distortion: str | None = None,
) -> EncodeResult:
    """Reads a file, encodes it (the options of `encode`) and writes `dst` atomically (refuses to
    overwrite unless force; nothing is written when `strict` refuses the result).

    `var` picks the variable of a climate file. A rate target in the wrong unit, or an option the
    modality does not take, is refused before reading.
    """
    dst = Path(dst)
    if Path(src).resolve() == dst.resolve():
        raise InputError(f"{dst}: output would overwrite the input")
    check_writable(dst, force)
    if isinstance(base, str) and not modality:
        base = load_default_base(base)  # A named base also names the modality.
        modality = base.modality
    fmt = modalities.for_path(src, modality)
    _check_rate_unit(fmt, _given_unit(rate, bpp, rate_unit), source=str(src))
    _encode_options(fmt, rate if rate is not None else bpp, max_error=max_error, rel_error=rel_error,
                    distortion=distortion)
    if isinstance(base, bases.Base):
        modalities.check_base(base, fmt.NAME, source=str(src), subject="the file")
    native = fmt.read(src, var=var, single_file=True)
    result = encode(native, quality=quality, rate=rate, bpp=bpp, rate_unit=rate_unit, strict=strict, base=base,
                    modality=fmt.NAME, seed=seed, fit=fit, fit_steps=fit_steps, effort=effort, progress=progress,
                    max_error=max_error, rel_error=rel_error, distortion=distortion)
    atomic_write(dst, result.data, force=force)
    return result


def encodable_suffixes(modality: str | None = None, base: str | None = None) -> tuple[str, ...]:
    """The suffixes of the files `encode_file` reads with these options: the modality's (given, or
    that of the named base), else every modality's."""
    if base and not modality:
        modality = load_default_base(base).modality
    formats = [modalities.by_name(modality)] if modality else modalities.FORMATS.values()
    return tuple(suffix for fmt in formats for suffix in fmt.SUFFIXES)


def expand_inputs(paths: Sequence[str | Path], suffixes: Sequence[str]) -> list[Path]:
    """The files of `paths`, in order: a file (or a missing path) as given; a folder as the files
    directly in it whose suffix (in any case) is in `suffixes`, sorted by name, hidden ones skipped.

    Raises:
      InputError: a folder holding no such file, or one that cannot be listed.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            files.append(path)
            continue
        try:
            found = sorted((f for f in path.iterdir() if f.suffix.lower() in suffixes and not f.name.startswith(".")
                            and f.is_file()), key=lambda f: f.name)
        except OSError as e:
            raise InputError(f"{path}: cannot list the directory ({e.strerror})") from None
        if not found:
            raise InputError(f"{path}: the directory holds no {' '.join(suffixes)} file")
        files += found
    return files


# File signatures -> a suffix the readers take (the readers then check the content themselves).
_SIGNATURES = ((b"\x89PNG", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"BM", ".bmp"), (b"II*\0", ".tif"),
               (b"MM\0*", ".tif"), (b"fLaC", ".flac"), (b"CDF\x01", ".nc"), (b"CDF\x02", ".nc"),
               (b"CDF\x05", ".nc"), (b"\x89HDF", ".nc"), (b"GRIB", ".grib"), (b"\x93NUMPY", ".npy"),
               (b"PK\x03\x04", ".npz"), (b"\x89INR", ".inr"))


def suffix_of(data: bytes, modality: str | None = None) -> str:
    """The suffix of a signal or .inr file given as bytes (e.g. from standard input), told by its first
    bytes; else the first suffix of `modality`. InputError if neither tells."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return ".wav"
    found = next((suffix for magic, suffix in _SIGNATURES if data.startswith(magic)), None)
    if found:
        return found
    if modality:
        return modalities.by_name(modality).SUFFIXES[0]
    raise InputError("cannot tell the format of the input from its first bytes; pass --modality")


def read_inr(src: str | Path) -> bytes:
    try:
        return Path(src).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{src}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{src}: is a directory") from None
    except OSError as e:
        raise InputError(f"{src}: cannot read ({e.strerror})") from None


def format_of(data: bytes) -> Modality:
    """The modality plug-in of .inr bytes (from the container's modality byte)."""
    return modalities.by_code(container.unpack(data).modality)


def decode(data: bytes) -> Decoded:
    """Decodes .inr bytes (the base network named in the file must be installed)."""
    return format_of(data).decode(data)


def default_output(src: Path, data: bytes) -> Path:
    """Where `inrcodec decode x.inr` writes: x.png / .wav / .nc (refused if it exists, unless forced)."""
    return src.with_suffix(format_of(data).OUTPUT_SUFFIX)


def decode_file(src: str | Path, dst: str | Path | None = None, *, force: bool = False) -> tuple[Path, Decoded]:
    """Decodes a .inr file and writes the signal atomically (PNG, WAV/FLAC or netCDF by the suffix)."""
    src = Path(src)
    data = read_inr(src)
    fmt = format_of(data)
    chosen = Path(dst) if dst else default_output(src, data)
    if src.resolve() == chosen.resolve():
        raise InputError(f"{chosen}: output would overwrite the input")
    if not dst and chosen.exists() and not force:  # Likely the original the file was made from.
        raise InputError(f"{chosen}: already exists (name another output with -o, or use --force)")
    dst = chosen
    check_writable(dst, force)
    decoded = fmt.decode(data)
    atomic_write(dst, fmt.write(decoded, dst.suffix), force=force)
    return dst, decoded


def summary(decoded: Decoded) -> str:
    """One line describing a decoded signal (e.g. "768x512, 3 channel(s), 8-bit")."""
    return modalities.by_name(decoded.base.modality).summary(decoded)


def info(src: str | Path) -> dict:
    """Header fields of a .inr file, the base network it needs (and whether it is installed), the rate.

    Reads the bitstream and the base manifests only: no network is loaded and JAX is not imported.
    """
    data = read_inr(src)
    box, header = files.read_header(data)
    kind = files.HEADERS[box.modality]
    manifest = bases.installed_manifest(box.base_id)
    base_name = manifest["name"] if manifest else "(not installed)"
    coding = getattr(header, "coding", None) or header.codings[0]
    return {
        "file": str(src),
        "bytes": len(data),
        "format": f"{container.FORMAT_MAJOR}.{box.minor}",
        **({"profile": "compact"} if box.compact else {}),
        "modality": kind.NAME,
        **header.describe(manifest),
        kind.RATE_UNIT.replace(" ", "_"): round(header.rate(len(data)), 5),
        "base_id": box.base_id.hex(),
        "base": base_name,
        "latent_levels": len(coding.scale_indices),
        "latent_step": f"2^(-{coding.step_index}/2)",
        "scale_indices": list(coding.scale_indices),
        **({"entropy_model": {4: "context tables", 5: "adaptive context tables"}[coding.context_model]}
           if coding.context_tables else {}),
        **({"stack_predicted_levels": [k for k, p in enumerate(coding.predicted) if p]} if coding.predicted else {}),
        **({"local_scale_levels": [k for k, c in enumerate(coding.contexts) if c]} if coding.contexts else {}),
        "weight_deltas": f"{len(coding.weight_scale_indices)} tensors, step 2^(-{coding.weight_step_index}/2)"
        if coding.weight_step_index else "none",
        "payload_bytes": len(box.payload),
    }


def use_compilation_cache(directory: str | Path | None = None) -> Path | None:
    """Keeps JAX's compiled programs across runs (opt-in; the CLI turns it on): in `directory`, else
    $INRCODEC_CACHE, else ~/.cache/inrcodec/jax; INRCODEC_CACHE=off turns it off. Returns the
    directory in use, or None (off, or not writable: programs are then compiled each run)."""
    from inrcodec.core import compilation

    return compilation.use_cache(directory)


def compress_dataset(items: Any, out: str | Path, *, train: "TrainConfig | None" = None,
                     train_dir: str | Path | None = None, **options) -> "Archive":
    """Compresses many same-shaped signals into one .inrpack archive (dataset.compress_dataset, whose
    keyword `options` this takes) and returns it opened.

    With `train` (a recipe), a base network is first meta-trained on the first `chunk` items and
    embedded in the archive, so the archive's rate includes its bytes; `base` is then ignored. The
    base, its record and checkpoint are kept in `train_dir` (default: a temporary folder, removed
    afterwards); training resumes from a checkpoint there.
    """
    from inrcodec import dataset

    make_base = None
    if train is not None:
        from inrcodec.training.from_items import base_from_items

        def make_base(items, modality, hints):
            return base_from_items(items, modality, hints, train, train_dir)

    return dataset.compress_dataset(items, out, make_base=make_base, **options)


# --- meta-training and evaluation runs (their packages are imported here only) --------------------


def train_config(recipe: str | Path, *, minutes: float | None = None, steps: int | None = None,
                 density: float | None = None, sparsity: str | None = None) -> "TrainConfig":
    """A recipe file's TrainConfig with the given overrides. A density below 1 without a sparsity
    method (and none in the recipe) means L0 gates on single weights ("l0-unstructured").

    Raises:
      InputError: no such recipe, a bad recipe, or a density outside (0, 1].
    """
    from inrcodec.training import train as training

    try:
        cfg = training.load_recipe(recipe)
    except ValueError as e:
        raise InputError(str(e)) from None
    if density is not None and not 0.0 < density <= 1.0:
        raise InputError(f"--density must lie in (0, 1], got {density}")
    if sparsity is None and density is not None and density < 1.0 and cfg.sparsity == "none":
        sparsity = "l0-unstructured"
    overrides = {"max_minutes": minutes, "steps": steps, "density": density, "sparsity": sparsity}
    try:
        return dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    except ValueError as e:
        raise InputError(str(e)) from None


def train(cfg: "TrainConfig", data: Sequence[str | Path], out: str | Path,
          progress: Callable[[int, dict], None] | None = None) -> bases.Base:
    """Meta-trains a base network on the files under `data` and exports it to `out` (resuming from
    out/checkpoint.npz); `progress(step, metrics)` after every step."""
    from inrcodec.training import train as training

    try:
        return training.train(cfg, [Path(d) for d in data], Path(out), progress)
    except ValueError as e:
        raise InputError(str(e)) from None


def evaluate(
    data: Sequence[str | Path],
    levels: Sequence[int],
    out: str | Path,
    baselines: Sequence[str] | None = None,
    *,
    modality: str | None = None,
    limit: int | None = None,
    base: str | None = None,
    fit_steps: int | None = None,
    effort: str | None = None,
    var: str | None = None,
    seconds: float | None = None,
    distortion: str | None = None,
    command: str | None = None,
    log: Callable[[str], None] = lambda s: None,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[dict, dict]:
    """Rate-distortion run at the quality `levels` and its report into `out` (the arguments of
    inrcodec.evaluation.evaluate.run, then .report: results JSON, bd.json, report.md, rd.png); `distortion`
    as in `encode`.

    Returns ({"inrcodec": results, <baseline>: results, ...}, the BD comparison written to out/bd.json).
    """
    from inrcodec.evaluation import evaluate as evaluation

    written = evaluation.run([Path(d) for d in data], levels, Path(out), baselines, modality=modality, limit=limit,
                             base=base, fit_steps=fit_steps, effort=effort, var=var, seconds=seconds,
                             encode_options={"distortion": distortion}, command=command, log=log,
                             progress=progress)
    return written, evaluation.report(out, log=log)


def evaluation_summary(written: dict, bd: dict) -> list[str]:
    """Lines summing up an `evaluate` run: each codec's R-D points, each BD comparison, the anchors' note."""
    from inrcodec.evaluation import evaluate as evaluation

    rate_key = bd["rate_key"]
    lines = []
    for name, res in written.items():
        rates, psnrs = evaluation.curve(res, rate_key)
        lines.append(f"{name}: " + ", ".join(evaluation.format_point(r, p, rate_key) for r, p in zip(rates, psnrs)))
    lines += [evaluation.bd_line(row) for row in bd["comparisons"]]
    if not bd["anchors_comparable"]:
        lines.append(f"note: {bd['anchor_note']}")
    return lines
