"""Rate-distortion benchmark of inrcodec against classical codecs and published anchors.

`run` evaluates a set of images, sounds or climate fields: for every quality level each item is
encoded, its file bytes counted (the rate: bpp, kbps or bits per 2-D field), the file decoded from
bytes (which must give exactly the encoder's reconstruction) and the metrics computed from the
decoded signal; then each classical baseline codec is run per item at the rate inrcodec reached on
that item (`inrcodec.evaluation.baselines.<modality>.match_item`). Audio also gets the perceptual
metrics of `inrcodec.evaluation.perceptual` (PESQ-WB, STOI, ViSQOL), each skipped with a notice when
its package is missing.
Everything is written in the CompressAI results schema (`inrcodec.evaluation.results`):
out/inrcodec.json and one out/<codec>.json per baseline. What is modality-specific comes from the
modality plug-ins (inrcodec.modalities) and from BENCHMARKS (the published benchmark of each modality).

`report` reads such a folder and writes out/bd.json (BD-rate and BD-PSNR of inrcodec against each
baseline and each published anchor curve of the modality's benchmark dataset; for audio also BD-rate
on PESQ-WB and ViSQOL against the baselines), out/report.md and the R-D plot out/rd.png (audio: also
out/rd_<metric>.png). Library code: nothing here prints; notices go through the `log` callback and
progress through the `progress` callback.

Rates: the results lists carry the modality's rate key (`bpp`, `kbps` or `bits_per_field`, also in
meta["rate_key"]). The CompressAI schema requires a `bpp` list, so audio and climate results also
carry `bpp` as bits per sample (per channel) and bits per grid point (COIN++'s ERA5 "bpp").
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inrcodec.evaluation import anchors, baselines, perceptual, results
from inrcodec import api, modalities
from inrcodec._io import atomic_write
from inrcodec.evaluation.bdrate import MIN_POINTS, bd_psnr_with_overlap, bd_rate_with_overlap
from inrcodec.core.config import FitConfig
from inrcodec.errors import InputError

Log = Callable[[str], None]
Progress = Callable[[int, int, str], None]  # (done, total, what is running now)


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """How one modality is measured and which published benchmark its anchors come from."""

    rate_key: str  # Key of the rate list in the results JSON.
    rate_label: str  # Axis label.
    bpp_meaning: str  # What the (schema-required) "bpp" list holds.
    metrics: tuple[str, ...]  # Metric keys besides the rate, "psnr" first.
    psnr_convention: str
    baselines: tuple[str, ...]  # Default baseline codecs.
    dataset: str  # Key of inrcodec.evaluation.anchors.DATASETS.
    dataset_label: str
    plot_anchors: tuple[str, ...] | None  # Anchors drawn on rd.png (None: all); BD uses all of them.
    log_rate: bool
    psnr_label: str  # PSNR axis label.
    differences: Callable[[Sequence["Item"], Any, float | None], list[str]]  # (items, base value range,
    # --seconds) -> how the run differs from the anchors' benchmark ([] = it matches).
    match_note: str = "the items match the anchors' benchmark ({label})"  # When it matches.
    baseline_extra: tuple[str, ...] = ()  # Per-item keys of baseline records besides the metrics.
    # Results written before "anchors_comparable" was recorded: (comparable, note) from the item count.
    count_comparability: Callable[[int], tuple[bool, str]] | None = None
    perceptual: tuple[str, ...] = ()  # Keys of inrcodec.evaluation.perceptual, measured when installed.
    bd_metrics: tuple[str, ...] = ()  # Quality axes besides PSNR for BD-rate (where the results have them).


def _kodak_differences(items: Sequence["Item"], value_range: Any, seconds: float | None) -> list[str]:
    why = []
    if len(items) != 24:
        why.append(f"{len(items)} images, not 24")
    if any(sorted(it.shape[:2]) != [512, 768] for it in items):
        why.append("not all images are 768x512")
    return why


def _kodak_count(count: int) -> tuple[bool, str]:
    if count == 24:
        return True, f"{count} images, as in the anchors' benchmark (image shapes not recorded)"
    return False, f"{count} images, not 24, so BD figures against them are indicative only"


def _librispeech_differences(items: Sequence["Item"], value_range: Any, seconds: float | None) -> list[str]:
    why = []
    if any(it.shape[2] != 16000 or it.shape[1] != 1 for it in items):
        why.append("not all clips are 16 kHz mono")
    if seconds is None or abs(seconds - 3.0) > 1e-9:
        why.append("not the first 3 s of each clip (--seconds 3)")
    return why


def _era5_differences(items: Sequence["Item"], value_range: Any, seconds: float | None) -> list[str]:
    why = []
    if any(tuple(it.shape[-2:]) != (46, 90) for it in items):
        why.append("not all fields are on the 46x90 grid")
    if value_range is None or not np.allclose(value_range, (202.66, 320.93)):
        why.append("PSNR range is not COIN++'s 202.66-320.93 K")
    return why


BENCHMARKS: dict[str, Benchmark] = {
    "image": Benchmark(
        rate_key="bpp", rate_label="bits per pixel", bpp_meaning="bits per pixel: 8 * file bytes / (height * width)",
        metrics=("psnr", "psnr-rgb"),
        psnr_convention="per image on the integer image (peak 255, or 65535 for 16-bit), then averaged; "
        "psnr-rgb is the same value under CompressAI's key",
        baselines=("jpeg", "webp", "avif", "jpeg2000", "jxl", "x265"),
        dataset="kodak", dataset_label="Kodak (24 images, 768x512)",
        plot_anchors=("COIN (Dupont et al. 2021)", "COIN++ (Dupont et al. 2022)",
                      "Strümpler et al. 2022, meta-learned (7 bit)", "C3 (Kim et al. 2024)", "Cool-chic 5.0",
                      "BPG444", "VTM", "JPEG (coinpp)"),
        log_rate=False, psnr_label="PSNR (dB)", differences=_kodak_differences, count_comparability=_kodak_count,
    ),
    "audio": Benchmark(
        rate_key="kbps", rate_label="kbps", bpp_meaning="bits per sample: 8 * file bytes / (frames * channels)",
        metrics=("psnr", "snr_db"),
        psnr_convention="per clip on the waveform mapped from [-1, 1] to [0, 1] (peak 1, COIN++), then averaged; "
        "snr_db = 10 log10(signal energy / error energy) per clip, then averaged",
        baselines=("mp3", "opus"),
        dataset="librispeech", dataset_label="LibriSpeech test-clean, first 3 s, 16 kHz",
        plot_anchors=None, log_rate=False, psnr_label="PSNR (dB), waveform in [0, 1]",
        differences=_librispeech_differences, baseline_extra=("lag_frames",),
        match_note="the clips are cut like the anchors' benchmark ({label}); the anchors average over their own "
        "clip sets",
        perceptual=perceptual.NAMES, bd_metrics=("pesq_wb", "visqol"),
    ),
    "climate": Benchmark(
        rate_key="bits_per_field", rate_label="bits per field",
        bpp_meaning="bits per grid point: 8 * file bytes / (fields * ny * nx) (COIN++'s ERA5 'bpp')",
        metrics=("psnr", "rmse", "max_abs_error"),
        psnr_convention="per file over the valid points with peak = the base's value range (COIN++ ERA5: "
        "202.66-320.93 K), then averaged; rmse and max_abs_error in the field's units",
        baselines=("sz3", "zfp"),
        dataset="era5", dataset_label="ERA5 2 m temperature, 46x90 grid",
        plot_anchors=None, log_rate=True, psnr_label="PSNR (dB), over the value range",
        differences=_era5_differences,
    ),
}
RATE_KEYS = {b.rate_key: m for m, b in BENCHMARKS.items()}
TIME_KEYS = ("encoding_time", "decoding_time")
# Axis labels of the quality metrics besides PSNR: (name, unit).
METRIC_LABELS = {k: (perceptual.LABELS[k], "MOS" if k != "stoi" else "") for k in perceptual.NAMES}


@dataclasses.dataclass(frozen=True)
class Item:
    name: str
    native: Any  # The modality's native signal: image array, signals.audio.Audio or signals.climate.Field.
    positions: int  # Pixels, samples (frames * channels) or grid points: the denominator of "bpp".
    shape: tuple  # Image (h, w, c); audio (frames, channels, sample_rate); climate field shape.


# --- inputs ----------------------------------------------------------------------------------------


def _modality_of_suffix(path: Path) -> str | None:
    fmt = modalities.for_suffix(path)
    return fmt.NAME if fmt else None


def _either(names: Sequence[str]) -> str:
    """"a", "a or b", "a, b or c"."""
    return " or ".join(filter(None, [", ".join(names[:-1]), names[-1]]))


def find_items(data: Sequence[str | Path], modality: str | None = None) -> tuple[str, list[Path]]:
    """The modality and the input files of DATA (files and folders, searched recursively, sorted).

    The modality is `modality` if given (folders then contribute only that modality's files), else
    the one modality the files' suffixes tell.

    Raises:
      InputError: a missing path, no usable files, or files of several modalities without `modality`.
    """
    if modality is not None:
        modalities.by_name(modality)
    files: list[Path] = []
    for root in map(Path, data):
        if root.is_file():
            if modality is None and _modality_of_suffix(root) is None:
                raise InputError(f"{root}: cannot tell the modality from the suffix {root.suffix!r}; pass --modality")
            files.append(root)
        elif root.is_dir():
            found = sorted(p for p in root.rglob("*") if p.is_file() and not any(
                part.startswith(".") for part in p.relative_to(root).parts) and _modality_of_suffix(p))
            files += [p for p in found if modality is None or _modality_of_suffix(p) == modality]
        else:
            raise InputError(f"{root}: no such file or directory")
    if modality is None:
        kinds: dict[str, int] = {}
        for f in files:
            kinds[_modality_of_suffix(f)] = kinds.get(_modality_of_suffix(f), 0) + 1
        if len(kinds) > 1:
            found = ", ".join(f"{n} {m}" for m, n in sorted(kinds.items()))
            raise InputError(f"the data holds files of several modalities ({found}); pass --modality")
        modality = next(iter(kinds), None)
    if not files:
        what = f"{modality} files" if modality else f"{_either(list(modalities.FORMATS))} files"
        raise InputError(f"no {what} found in {', '.join(map(str, data))}")
    return modality, files


def _item_names(files: list[Path]) -> list[str]:
    names = [f.name for f in files]
    return names if len(set(names)) == len(names) else [str(f) for f in files]


def load_item(path: Path, name: str, modality: str, var: str | None = None, seconds: float | None = None) -> Item:
    """Reads one input: an image array, the first `seconds` of a sound, or a climate field (`var`)."""
    fmt = modalities.by_name(modality)
    native = fmt.read(path, single_file=True, var=var, seconds=seconds)
    return Item(name, native, fmt.positions(native), fmt.item_shape(native))


def anchor_comparability(modality: str, items: Sequence[Item], base_value_range: Any = None,
                         seconds: float | None = None) -> tuple[bool, str]:
    """Whether the items are the set the modality's published anchors were measured on, and why (not)."""
    bench = BENCHMARKS[modality]
    why = bench.differences(items, base_value_range, seconds)
    if why:
        return False, (f"the published anchors were measured on {bench.dataset_label}; this run differs ("
                       + "; ".join(why) + "), so BD figures against them are indicative only")
    return True, bench.match_note.format(label=bench.dataset_label)


# --- inrcodec ------------------------------------------------------------------------------------


def _measure(item: Item, keys: Sequence[str]):
    """(reference, decode) -> the perceptual metrics `keys` of an audio item, or None without keys."""
    if not keys:
        return None
    return lambda ref, test: perceptual.measure(ref, test, item.native.sample_rate, keys)


def eval_inrcodec(item: Item, modality: str, base, quality: int, fit: FitConfig, seed: int = 0,
                  perceptual_keys: Sequence[str] = (), encode_options: dict | None = None) -> dict:
    """Encodes one item, decodes the bytes, checks the decode and measures it: one per-item record.

    `perceptual_keys` (audio): metrics of inrcodec.evaluation.perceptual added to the record;
    `encode_options`: keyword options of the modality's encode (its ENCODE_OPTIONS).
    """
    fmt = modalities.by_name(modality)
    enc = fmt.encode(item.native, base, quality, fit, seed, **(encode_options or {}))
    t = time.perf_counter()
    dec = fmt.decode(enc.data, base)
    dec_time = time.perf_counter() - t
    if not fmt.same(dec.array, enc.reconstruction):
        raise RuntimeError(f"{item.name}: decoder output differs from the encoder's reconstruction (quality {quality})")
    rate_key = BENCHMARKS[modality].rate_key
    record = {"file": item.name, "bytes": len(enc.data), "bpp": 8 * len(enc.data) / item.positions}
    record[rate_key] = dec.header.rate(len(enc.data))
    record.update(fmt.distortion(item.native, dec))
    measure = _measure(item, perceptual_keys)
    if measure:
        record.update(measure(item.native.samples, dec.array.samples))
    record.update({"encoding_time": enc.seconds, "decoding_time": dec_time})
    return record


# --- baselines -----------------------------------------------------------------------------------


def eval_baseline(item: Item, modality: str, codec: str, target: float, value_range=None,
                  perceptual_keys: Sequence[str] = ()) -> dict:
    """Runs one baseline on one item at the highest setting within `target` (inrcodec's rate): a record.

    `perceptual_keys` (audio): metrics of inrcodec.evaluation.perceptual of the (aligned) decode.
    """
    measure = _measure(item, perceptual_keys)
    extra = {"measure": measure} if measure else {}  # Only audio's match_item takes it.
    r, metrics = baselines.BY_MODALITY[modality].match_item(item.native, codec, target, value_range, **extra)
    setting = r.setting if isinstance(r.setting, int) else float(r.setting)
    return {"file": item.name, "bytes": r.bytes, "bpp": 8 * r.bytes / item.positions,
            BENCHMARKS[modality].rate_key: r.rate, "target": target, "setting": setting, **metrics,
            "encoding_time": r.encode_seconds, "decoding_time": r.decode_seconds}


def check_baselines(modality: str, names: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """(runnable names, {unavailable name: reason}); InputError for a name the modality does not know."""
    status = baselines.available(modality)
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in status]
    if unknown:
        raise InputError(f"unknown {modality} baseline {unknown[0]!r}; expected one of {', '.join(status)}")
    return [n for n in names if status[n] is None], {n: status[n] for n in names if status[n] is not None}


# --- the run -------------------------------------------------------------------------------------


def _mean(values: list) -> float | None:
    """The mean of the defined (not None) values; None if there are none (a metric undefined on every item)."""
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def _mean_point(records: list[dict], keys: Sequence[str], per_item_keys: Sequence[str]) -> dict:
    point = {k: _mean([r[k] for r in records]) for k in keys}
    point["per_item"] = {k: [r[k] for r in records] for k in per_item_keys}
    return point


def _undefined(points: list[dict], keys: Sequence[str]) -> dict[str, int]:
    """{metric: items where it was undefined (None), summed over the points}, for the metrics with any."""
    counts = {k: sum(v is None for p in points for v in p["per_item"][k]) for k in keys}
    return {k: n for k, n in counts.items() if n}


def check_perceptual(modality: str) -> tuple[list[str], dict[str, str]]:
    """(the modality's perceptual metrics that can run here, {unavailable metric: reason})."""
    status = perceptual.available(BENCHMARKS[modality].perceptual)
    return [k for k, why in status.items() if why is None], {k: why for k, why in status.items() if why is not None}


def _metric_text(point: dict, keys: Sequence[str]) -> str:
    """", PESQ-WB 2.31, STOI 0.912" for the perceptual metrics of a point (n/a where undefined)."""
    return "".join(f", {perceptual.LABELS[k]} " + (f"{point[k]:.3g}" if point[k] is not None else "n/a")
                   for k in keys)


def _machine() -> str:
    return f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}"


def run(
    data: str | Path | Sequence[str | Path],
    qualities: Sequence[int],
    out_dir: str | Path,
    baseline_names: Sequence[str] | None = None,
    *,
    modality: str | None = None,
    limit: int | None = None,
    base: str | None = None,
    fit: FitConfig | None = None,
    fit_steps: int | None = None,
    effort: str | None = None,
    var: str | None = None,
    seconds: float | None = None,
    seed: int = 0,
    encode_options: dict | None = None,
    command: str | None = None,
    log: Log = lambda s: None,
    progress: Progress | None = None,
) -> dict[str, dict]:
    """Benchmarks inrcodec, and the baselines at inrcodec's per-item rates, on the items in `data`.

    Args:
      data: files and/or folders (searched recursively) of one modality.
      qualities: inrcodec quality levels, one R-D point each.
      out_dir: where inrcodec.json and <baseline>.json are written (created if needed).
      baseline_names: codecs of `inrcodec.evaluation.baselines.<modality>` (None: the modality's default list);
        unavailable ones are skipped with a notice through `log`.
      modality: "image", "audio" or "climate" (None: told by the files' suffixes).
      limit: only the first `limit` items (sorted by path).
      base: base network name or directory (None: the modality's shipped base).
      fit: encoder schedule (None: the base's, with `fit_steps` steps or the schedule of `effort`: api.default_fit).
      var: climate only: the variable to read from each file.
      seconds: audio only: evaluate the first `seconds` of each clip (COIN++: 3).
      seed: the fit's noise seed (fixed: reruns give the same bytes).
      encode_options: keyword options of the modality's encode, e.g. {"distortion": "psnr"} for audio.
      command: the command line recorded in meta (default: sys.argv).
      log: receives one-line notices (skipped codecs, per-quality means).
      progress: called with (done, total, label) as items are processed.

    Returns:
      {"inrcodec": results, <baseline>: results, ...} as written.

    Raises:
      InputError: bad DATA, options, base or baseline names (before anything is encoded).
    """
    data = [data] if isinstance(data, (str, Path)) else list(data)
    modality, files = find_items(data, modality)
    fmt = modalities.by_name(modality)
    bench = BENCHMARKS[modality]
    encode_options = {k: v for k, v in (encode_options or {}).items() if v is not None}
    for option, value in (("var", var), ("seconds", seconds), *encode_options.items()):
        if value is not None and option not in fmt.READ_OPTIONS + fmt.ENCODE_OPTIONS:
            names = _either(modalities.taking_option(option))
            raise InputError(f"--{option.replace('_', '-')} applies to {names} files only")
    if seconds is not None and not seconds > 0:
        raise InputError(f"--seconds must be positive, got {seconds}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be >= 1, got {limit}")
    qualities = [int(q) for q in qualities]
    if not qualities:
        raise InputError("no quality levels given")
    the_base = api.load_default_base(base, modality)
    modalities.check_base(the_base, modality, subject="the data")
    levels = api.qualities(the_base)
    bad = [q for q in qualities if q not in levels]
    if bad:
        raise InputError(f"quality {bad[0]} is not one of the base's levels {levels}")
    runnable, skipped = check_baselines(modality, bench.baselines if baseline_names is None else baseline_names)
    for name, reason in skipped.items():
        log(f"{name}: skipped ({reason})")
    perc, perc_skipped = check_perceptual(modality)
    for name, reason in perc_skipped.items():
        log(f"metric {name}: skipped ({reason})")
    fit = fit or api.default_fit(the_base, fit_steps, effort)
    explicit = {Path(d) for d in data if Path(d).is_file()}
    items = []
    for f, name in zip(files, _item_names(files)):
        if limit is not None and len(items) == limit:
            break
        try:
            items.append(load_item(f, name, modality, var, seconds))
        except InputError as e:
            if f in explicit:
                raise
            log(f"skipped {e}")  # A file found in a folder that does not hold the data (e.g. no --var array).
    if not items:
        raise InputError(f"no readable {modality} files in {', '.join(map(str, data))}")
    value_range = the_base.manifest.get("value_range")
    comparable, anchor_note = anchor_comparability(modality, items, value_range, seconds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": command if command is not None else " ".join(["inrcodec", *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "modality": modality,
        "rate_key": bench.rate_key,
        "rate_unit": fmt.RATE_UNIT,
        "bpp": bench.bpp_meaning,
        "psnr": bench.psnr_convention,
        "data": [str(d) for d in data],
        "items": [it.name for it in items],
        "item_shapes": [list(it.shape) for it in items],
        "base": {"name": the_base.name, "base_id": the_base.base_id.hex(), "params_bytes": the_base.nbytes},
        "fit": dataclasses.asdict(fit),  # The whole schedule: a run can be repeated from its JSON.
        "seed": seed,
        **({"encode_options": encode_options} if encode_options else {}),
        "quality": qualities,
        "dataset": bench.dataset,
        "anchors_comparable": comparable,
        "anchor_note": anchor_note,
        "baselines_skipped": skipped,
        **({"perceptual": {k: perceptual.CONVENTIONS[k] for k in perc}, "perceptual_skipped": perc_skipped}
           if bench.perceptual else {}),
        **({"seconds": seconds} if seconds is not None else {}),
        **({"var": var} if var is not None else {}),
    }
    n = len(items)
    total = n * len(qualities) * (1 + len(runnable))
    done = 0

    def tick(label: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total, label)

    if progress:
        progress(0, total, "inrcodec")
    rate_key = bench.rate_key
    keys = list(dict.fromkeys(["bpp", rate_key, *bench.metrics, *perc, *TIME_KEYS]))
    item_keys = ["file", "bytes", *keys]
    points, targets = [], []
    for q in qualities:
        records = []
        for it in items:
            records.append(eval_inrcodec(it, modality, the_base, q, fit, seed, perc, encode_options))
            tick(f"inrcodec q{q}")
        points.append(_mean_point(records, keys, item_keys))
        targets.append([r[rate_key] for r in records])
        log(f"inrcodec q{q}: {format_point(points[-1][rate_key], points[-1]['psnr'], bench.rate_key)}"
            + _metric_text(points[-1], perc))
        undefined = _undefined(points, perc)
        ours = results.make_results(
            "inrcodec", f"inrcodec {the_base.name}, quality levels {qualities[: len(points)]}", points,
            meta={**meta, "quality": qualities[: len(points)],
                  **({"perceptual_undefined": undefined} if undefined else {})})
        results.write_results(out_dir / "inrcodec.json", ours)
    if undefined:
        log("inrcodec: undefined on some clips (averaged over the others): "
            + ", ".join(f"{k} {m} of {n * len(qualities)}" for k, m in undefined.items()))
    written = {"inrcodec": ours}

    codecs = baselines.MODALITIES[modality].CODECS
    bkeys = list(dict.fromkeys(["bpp", rate_key, *bench.metrics, *perc, *TIME_KEYS]))
    bitem_keys = ["file", "bytes", *bkeys, "target", "setting", *bench.baseline_extra]
    for name in runnable:
        bpoints, over = [], 0
        for q, qtargets in zip(qualities, targets):
            records = []
            for it, target in zip(items, qtargets):
                records.append(eval_baseline(it, modality, name, target, value_range, perc))
                over += records[-1][rate_key] > target
                tick(f"{name} q{q}")
            bpoints.append(_mean_point(records, bkeys, bitem_keys))
        if over:
            log(f"{name}: {over} of {n * len(qualities)} runs could not get down to inrcodec's rate "
                "(its lowest setting was used)")
        log(f"{name}: " + ", ".join(format_point(p[rate_key], p["psnr"], rate_key) + _metric_text(p, perc)
                                    for p in bpoints))
        undefined = _undefined(bpoints, perc)
        if undefined:
            log(f"{name}: undefined on some clips (averaged over the others): "
                + ", ".join(f"{k} {m} of {n * len(qualities)}" for k, m in undefined.items()))
        desc = (f"{codecs[name].description}; setting ({codecs[name].knob}) searched per item for the highest "
                f"rate not above inrcodec's rate on that item at each quality level")
        bmeta = {**meta, "codec": name, "knob": codecs[name].knob, "runs_above_target": over,
                 **({"perceptual_undefined": undefined} if undefined else {})}
        res = results.make_results(name, desc, bpoints, meta=bmeta)
        results.write_results(out_dir / f"{name}.json", res)
        written[name] = res
    return written


# --- reading results back, BD metrics, report ----------------------------------------------------


def rate_key_of(res: dict) -> str:
    """The rate key of a results dict: meta["rate_key"], else kbps / bits_per_field if present, else bpp."""
    key = res.get("meta", {}).get("rate_key")
    if key in res["results"]:
        return key
    return next((k for k in ("kbps", "bits_per_field") if k in res["results"]), "bpp")


def psnr_key_of(res: dict) -> str:
    """"psnr", or "psnr-rgb" for older image results that only have that."""
    return "psnr" if "psnr" in res["results"] else "psnr-rgb"


def curve(res: dict, rate_key: str | None = None) -> tuple[list[float], list[float]]:
    """(rates, psnrs) of a results dict."""
    r = res["results"]
    return list(r[rate_key or rate_key_of(res)]), list(r[psnr_key_of(res)])


def metric_curve(res: dict, metric: str, rate_key: str | None = None) -> tuple[list[float], list[float | None]]:
    """(rates, values of `metric`, e.g. "pesq_wb"; None where undefined on every item) of a results dict."""
    r = res["results"]
    return list(r[rate_key or rate_key_of(res)]), list(r[metric])


def modality_of_results(res: dict) -> str:
    return res.get("meta", {}).get("modality") or RATE_KEYS[rate_key_of(res)]


def load_folder(folder: str | Path) -> tuple[dict, dict[str, dict]]:
    """(inrcodec results, {baseline name: results}) of an eval folder; other JSON files are ignored."""
    folder = Path(folder)
    path = folder / "inrcodec.json"
    if not path.is_file():
        raise InputError(f"{folder}: no inrcodec.json (run `inrcodec eval` first)")
    ours = results.read_results(path)
    order = BENCHMARKS[modality_of_results(ours)].baselines
    others = {}
    for p in sorted(folder.glob("*.json"), key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.stem)):
        if p.stem in ("inrcodec", "bd"):
            continue
        try:
            others[p.stem] = results.read_results(p)
        except ValueError:
            continue
    return ours, others


def _interval(pair: tuple[float, float]) -> list[float]:
    return [float(pair[0]), float(pair[1])]


def _why_undefined(anchor, test, axis: str, unit: str, quality: tuple[str, str] = ("PSNR", "dB")) -> str:
    """A short reason why a BD metric is undefined, in the curves' own units (axis "psnr": the quality axis)."""
    if min(len(anchor[0]), len(test[0])) < MIN_POINTS:
        return f"needs >= {MIN_POINTS} points per curve (anchor {len(anchor[0])}, inrcodec {len(test[0])})"
    i = 1 if axis == "psnr" else 0
    a, t = anchor[i], test[i]
    what, unit = quality if axis == "psnr" else ("rate", unit)
    unit = f" {unit}" if unit else ""
    return f"no {what} overlap: anchor {min(a):.4g}-{max(a):.4g}{unit}, inrcodec {min(t):.4g}-{max(t):.4g}{unit}"


def bd_comparison(anchor: tuple[Sequence[float], Sequence[float]], test: tuple[Sequence[float], Sequence[float]],
                  unit: str = "") -> dict:
    """BD-rate (%) and BD-PSNR (dB) of `test` against `anchor`, each with its overlap or why it is undefined."""
    out: dict[str, Any] = {}
    try:
        pct, interval = bd_rate_with_overlap(anchor[0], anchor[1], test[0], test[1])
        out.update(bd_rate_percent=pct, psnr_overlap_db=_interval(interval))
    except ValueError as e:
        reason = _why_undefined(anchor, test, "psnr", unit) if "overlap" in str(e) or "point" in str(e) else str(e)
        out.update(bd_rate_percent=None, bd_rate_error=reason)
    try:
        db, interval = bd_psnr_with_overlap(anchor[0], anchor[1], test[0], test[1])
        out.update(bd_psnr_db=db, rate_overlap=_interval(interval))
    except ValueError as e:
        reason = _why_undefined(anchor, test, "rate", unit) if "overlap" in str(e) or "point" in str(e) else str(e)
        out.update(bd_psnr_db=None, bd_psnr_error=reason)
    return out


def bd_metric_comparison(anchor: tuple[Sequence[float], Sequence[float | None]],
                         test: tuple[Sequence[float], Sequence[float | None]], metric: str, unit: str = "") -> dict:
    """BD-rate (%) of `test` against `anchor` at equal `metric` (e.g. PESQ-WB) and BD-`metric` (the mean
    metric difference at equal rate, in its own units), each with its overlap or why it is undefined."""
    label = METRIC_LABELS.get(metric, (metric, ""))
    if any(v is None for v in (*anchor[1], *test[1])):
        why = f"{label[0]} is undefined at some quality points"
        return {"bd_rate_percent": None, "bd_rate_error": why, "bd_delta": None, "bd_delta_error": why}
    out: dict[str, Any] = {}
    try:
        pct, interval = bd_rate_with_overlap(anchor[0], anchor[1], test[0], test[1])
        out.update(bd_rate_percent=pct, metric_overlap=_interval(interval))
    except ValueError as e:
        reason = (_why_undefined(anchor, test, "psnr", unit, label) if "overlap" in str(e) or "point" in str(e)
                  else str(e))
        out.update(bd_rate_percent=None, bd_rate_error=reason)
    try:
        delta, interval = bd_psnr_with_overlap(anchor[0], anchor[1], test[0], test[1])
        out.update(bd_delta=delta, rate_overlap=_interval(interval))
    except ValueError as e:
        reason = (_why_undefined(anchor, test, "rate", unit, label) if "overlap" in str(e) or "point" in str(e)
                  else str(e))
        out.update(bd_delta=None, bd_delta_error=reason)
    return out


def compare(ours: dict, others: dict[str, dict], modality: str | None = None) -> dict:
    """BD metrics of inrcodec against each baseline result and each published anchor of the modality."""
    modality = modality or modality_of_results(ours)
    bench = BENCHMARKS[modality]
    rate_key = rate_key_of(ours)
    test = curve(ours, rate_key)
    unit = rate_key.replace("_", " ")
    # Published anchors have PSNR only: the other quality axes compare with the baselines.
    metrics = [k for k in bench.bd_metrics if k in ours["results"]]
    rows = []
    for name, res in others.items():
        rows.append({"anchor": name, "kind": "baseline", "source": res.get("description", ""),
                     "runs_above_target": res.get("meta", {}).get("runs_above_target"),
                     **bd_comparison(curve(res, rate_key_of(res)), test, unit)})
        if metrics:
            missing = {"bd_rate_percent": None, "bd_delta": None}
            rows[-1]["bd_by_metric"] = {
                k: bd_metric_comparison(metric_curve(res, k), metric_curve(ours, k, rate_key), k, unit)
                if k in res["results"] else {**missing, "bd_rate_error": f"{name} has no {k}", "bd_delta_error":
                                             f"{name} has no {k}"} for k in metrics}
    for name, entry in anchors.DATASETS[bench.dataset].items():
        rows.append({"anchor": name, "kind": "published", "source": entry["source"],
                     **bd_comparison((entry["rate"], entry["psnr"]), test, unit)})
    meta = ours.get("meta", {})
    comparable = meta.get("anchors_comparable")
    note = meta.get("anchor_note")
    if comparable is None and bench.count_comparability:
        comparable, note = bench.count_comparability(len(meta.get("items") or meta.get("images") or []))
    return {
        "test": "inrcodec",
        "modality": modality,
        "rate_key": rate_key,
        "psnr_key": psnr_key_of(ours),
        **({"bd_metrics": metrics} if bench.bd_metrics else {}),
        "dataset": bench.dataset,
        "anchors_comparable": comparable,
        "anchor_note": note,
        "method": "Bjøntegaard (VCEG-M33): cubic fits (quadratic for 3 points) over the overlap only; "
                  "negative BD-rate / positive BD-PSNR = inrcodec better. Needs >= "
                  f"{MIN_POINTS} points per curve.",
        "comparisons": rows,
    }


def format_point(rate: float, psnr: float, rate_key: str) -> str:
    return f"{rate:.4g} {rate_key.replace('_', ' ')} {psnr:.2f} dB"


def bd_line(row: dict) -> str:
    """One line: "BD vs NAME: BD-rate +12.3 %, BD-PSNR -0.45 dB (PSNR overlap 23.2-29.9 dB)" or why not;
    then each further quality axis (e.g. "; on PESQ-WB: BD-rate +41.0 % (PESQ-WB overlap 1.52-2.90), BD-PESQ-WB
    -0.52")."""
    return _bd_psnr_text(row) + "".join(_bd_metric_text(k, m) for k, m in row.get("bd_by_metric", {}).items())


def _bd_metric_text(metric: str, m: dict) -> str:
    label = METRIC_LABELS.get(metric, (metric, ""))[0]
    delta = f", BD-{label} {m['bd_delta']:+.2f}" if m["bd_delta"] is not None else ""
    if m["bd_rate_percent"] is None:
        return f"; on {label}: BD-rate n/a ({m['bd_rate_error']}){delta}"
    lo, hi = m["metric_overlap"]
    return f"; on {label}: BD-rate {m['bd_rate_percent']:+.1f} % ({label} overlap {lo:.2f}-{hi:.2f}){delta}"


def _bd_psnr_text(row: dict) -> str:
    parts = []
    if row["bd_rate_percent"] is not None:
        lo, hi = row["psnr_overlap_db"]
        parts.append(f"BD-rate {row['bd_rate_percent']:+.1f} % (PSNR overlap {lo:.1f}-{hi:.1f} dB)")
    if row["bd_psnr_db"] is not None:
        parts.append(f"BD-PSNR {row['bd_psnr_db']:+.2f} dB")
    if not parts:
        return f"BD vs {row['anchor']}: n/a ({row['bd_rate_error']})"
    if row["bd_rate_percent"] is None:
        parts.append(f"BD-rate n/a ({row['bd_rate_error']})")
    if row["bd_psnr_db"] is None:
        parts.append(f"BD-PSNR n/a ({row['bd_psnr_error']})")
    return f"BD vs {row['anchor']}: " + ", ".join(parts)


def _plot_limits(ours: list[tuple[list[float], list[float]]], anchor_curves: Iterable[tuple[list, list]],
                 log_rate: bool) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis limits around our curves (inrcodec and the matched baselines), anchors clipped to them."""
    rates = [r for c in ours for r in c[0]]
    psnrs = [p for c in ours for p in c[1] if math.isfinite(p)]
    lo_r, hi_r = min(rates), max(rates)
    xlim = (lo_r / 2, hi_r * 2) if log_rate else (0.0, hi_r * 1.25)
    inside = [p for c in anchor_curves for r, p in zip(*c) if xlim[0] <= r <= xlim[1]]
    ys = psnrs + inside
    return xlim, (min(ys) - 1.0, max(ys) + 1.0)


def plot_folder(folder: str | Path, out_path: str | Path | None = None, title: str | None = None) -> Path:
    """The R-D plot of an eval folder (inrcodec, its baselines, the published anchors) as a PNG."""
    from inrcodec.evaluation.plot import plot_rd

    folder = Path(folder)
    ours, others = load_folder(folder)
    modality = modality_of_results(ours)
    bench = BENCHMARKS[modality]
    rate_key = rate_key_of(ours)
    curves = {"inrcodec (this repo)": curve(ours, rate_key)}
    curves.update({f"{n} (same items, matched rate)": curve(r, rate_key_of(r)) for n, r in others.items()})
    dataset = anchors.DATASETS[bench.dataset]
    names = bench.plot_anchors or tuple(dataset)
    anchor_curves = {n: (dataset[n]["rate"], dataset[n]["psnr"]) for n in names if n in dataset}
    xlim, ylim = _plot_limits(list(curves.values()), anchor_curves.values(), bench.log_rate)
    count = len(ours.get("meta", {}).get("items") or ours.get("meta", {}).get("images") or [])
    title = title or f"{folder.name}: {count} {modality} item(s); anchors: {bench.dataset_label}"
    return plot_rd(curves, anchor_curves, Path(out_path or folder / "rd.png"), title,
                   bench.rate_label, psnr_label=bench.psnr_label, log_rate=bench.log_rate, xlim=xlim, ylim=ylim)


def plot_metric_folder(folder: str | Path, metric: str, out_path: str | Path | None = None) -> Path | None:
    """The plot of `metric` (e.g. "pesq_wb") against rate for inrcodec and its baselines as a PNG (default
    folder/rd_<metric>.png; no published anchors: they have PSNR only); None if no curve has the metric."""
    from inrcodec.evaluation.plot import plot_rd

    folder = Path(folder)
    ours, others = load_folder(folder)
    bench = BENCHMARKS[modality_of_results(ours)]
    curves = {}
    named = [("inrcodec (this repo)", ours), *((f"{n} (same items, matched rate)", r) for n, r in others.items())]
    for label, res in named:
        if metric in res["results"]:
            pts = [(a, b) for a, b in zip(*metric_curve(res, metric)) if b is not None]
            if pts:
                curves[label] = ([a for a, _ in pts], [b for _, b in pts])
    if not curves:
        return None
    xlim, _ = _plot_limits(list(curves.values()), [], bench.log_rate)
    lo, hi = perceptual.SCALES.get(metric, (min(v for c in curves.values() for v in c[1]),
                                            max(v for c in curves.values() for v in c[1])))
    pad = 0.03 * (hi - lo)
    name, unit = METRIC_LABELS.get(metric, (metric, ""))
    count = len(ours.get("meta", {}).get("items") or [])
    return plot_rd(curves, None, Path(out_path or folder / f"rd_{metric}.png"),
                   f"{folder.name}: {count} {modality_of_results(ours)} item(s), {name}", bench.rate_label,
                   psnr_label=f"{name} ({unit})" if unit else name, log_rate=bench.log_rate, xlim=xlim,
                   ylim=(lo - pad, hi + pad))


def _markdown(folder: Path, ours: dict, others: dict[str, dict], bd: dict) -> str:
    modality, rate_key, psnr_key = bd["modality"], bd["rate_key"], bd["psnr_key"]
    bench = BENCHMARKS[modality]
    meta = ours.get("meta", {})
    r = ours["results"]
    qualities = meta.get("quality", list(range(1, len(r[rate_key]) + 1)))
    unit = rate_key.replace("_", " ")
    extra = [k for k in (*bench.metrics, *bench.perceptual) if k in r and k not in ("psnr", "psnr-rgb")]
    shown = [k for k in bench.perceptual if k in r]  # Beside each baseline's PSNR.
    bd_metrics = bd.get("bd_metrics", [])
    lines = [f"# inrcodec rate-distortion report: {folder.name}", ""]
    items = meta.get("items") or meta.get("images") or []
    base = meta.get("base", {})
    lines += [f"- data: {', '.join(meta.get('data', [])) or '(not recorded)'} ({len(items)} {modality} item(s))",
              f"- command: `{meta.get('command', '?')}`",
              f"- date: {meta.get('date', '?')}; machine: {meta.get('machine', '?')}",
              f"- base network: {base.get('name', '?')} (id {base.get('base_id', '?')}, {base.get('params_bytes', '?')} bytes)",
              f"- fit: {meta.get('fit', '?')}",
              f"- rate: {unit} from the file bytes; PSNR: {meta.get('psnr', bench.psnr_convention)}"]
    if meta.get("baselines_skipped"):
        lines.append("- baselines skipped: " + "; ".join(f"{k} ({v})" for k, v in meta["baselines_skipped"].items()))
    for k, text in meta.get("perceptual", {}).items():
        lines.append(f"- {k}: {text}")
    if meta.get("perceptual_skipped"):
        lines.append("- metrics skipped: " + "; ".join(f"{k} ({v})" for k, v in meta["perceptual_skipped"].items()))
    undefined = {n: o.get("meta", {}).get("perceptual_undefined") for n, o in {"inrcodec": ours, **others}.items()}
    if any(undefined.values()):
        lines.append("- undefined on some clips (means over the others): " + "; ".join(
            f"{n} " + ", ".join(f"{k} {c}" for k, c in u.items()) for n, u in undefined.items() if u))
    lines.append("")
    head = f"| quality | {unit} | PSNR (dB) |" + "".join(f" {k} |" for k in extra) + " encode s/item | decode s/item |"
    head += "".join(f" {n} at the same rate |" for n in others)
    lines += [head, "|" + "---|" * (5 + len(extra) + len(others))]
    for i, q in enumerate(qualities):
        row = f"| {q} | {r[rate_key][i]:.4g} | {r[psnr_key][i]:.2f} |"
        row += "".join(f" {_num(r[k][i])} |" for k in extra)
        row += f" {r['encoding_time'][i]:.2f} | {r['decoding_time'][i]:.3f} |"
        for o in others.values():
            o_r = o["results"]
            if i >= len(o_r["bpp"]):
                row += " |"
                continue
            metrics = "".join(f", {perceptual.LABELS[k]} {_num(o_r[k][i])}" for k in shown if k in o_r)
            row += f" {o_r[psnr_key_of(o)][i]:.2f} dB{metrics} ({o_r[rate_key_of(o)][i]:.4g} {unit}) |"
        lines.append(row)
    labels = [METRIC_LABELS[k][0] for k in bd_metrics]
    lines += ["", f"BD metrics of inrcodec against each curve ({bd['method']})", "",
              "| inrcodec vs | kind | BD-rate | BD-PSNR | PSNR overlap (dB) | rate overlap |"
              + "".join(f" BD-rate on {m} | BD-{m} | {m} overlap |" for m in labels), "|---|---|---|---|---|---|"
              + "---|---|---|" * len(labels)]
    for row in bd["comparisons"]:
        rate = f"{row['bd_rate_percent']:+.1f} %" if row["bd_rate_percent"] is not None else "n/a"
        db = f"{row['bd_psnr_db']:+.2f} dB" if row["bd_psnr_db"] is not None else "n/a"
        ov = "{:.1f}-{:.1f}".format(*row["psnr_overlap_db"]) if "psnr_overlap_db" in row else row.get("bd_rate_error", "")
        rov = "{:.4g}-{:.4g}".format(*row["rate_overlap"]) if "rate_overlap" in row else row.get("bd_psnr_error", "")
        line = f"| {row['anchor']} | {row['kind']} | {rate} | {db} | {ov} | {rov} |"
        for k in bd_metrics:
            m = row.get("bd_by_metric", {}).get(k)
            if m is None:
                line += " n/a | n/a | (PSNR only) |"
                continue
            delta = f"{m['bd_delta']:+.2f}" if m["bd_delta"] is not None else "n/a"
            if m["bd_rate_percent"] is None:
                line += f" n/a | {delta} | {m['bd_rate_error']} |"
            else:
                lo, hi = m["metric_overlap"]
                line += f" {m['bd_rate_percent']:+.1f} % | {delta} | {lo:.2f}-{hi:.2f} |"
        lines.append(line)
    over = [(row["anchor"], row["runs_above_target"]) for row in bd["comparisons"] if row.get("runs_above_target")]
    if over:
        runs = len(qualities) * len(items)
        lines += ["", "Baselines that could not get down to inrcodec's rate on some runs (their lowest setting was "
                  "used, so their points lie to the right): " + ", ".join(f"{n} {k} of {runs}" for n, k in over) + "."]
    lines += ["", f"Published anchors: {bd['anchor_note'] or 'comparability not recorded'}.",
              "Their sources (inrcodec.evaluation.anchors):", ""]
    lines += [f"- {row['anchor']}: {row['source']}" for row in bd["comparisons"] if row["kind"] == "published"]
    lines += ["", "![rate-distortion](rd.png)" if bd.get("plot") else "(no plot: matplotlib is not installed)", ""]
    lines += [f"![{METRIC_LABELS[k][0]} against rate]({name})\n" for k, name in bd.get("metric_plots", {}).items()]
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return f"{value:.4g}" if value is not None else "n/a"


def report(folder: str | Path, log: Log = lambda s: None, plot: bool = True) -> dict:
    """Writes folder/bd.json, folder/report.md and folder/rd.png from the results in `folder`; returns bd.

    bd["plot"] is "rd.png", or None when `plot` is False or matplotlib is missing (said through `log`);
    audio results with perceptual metrics also get folder/rd_<metric>.png, listed in bd["metric_plots"].
    """
    folder = Path(folder)
    ours, others = load_folder(folder)
    bd = compare(ours, others)
    if plot:
        try:
            import matplotlib  # noqa: F401  (an optional dependency: the dev extra)
        except ImportError:
            log("rd.png not drawn: matplotlib is not installed (pip install matplotlib)")
            plot = False
    bd["plot"] = "rd.png" if plot else None
    plotted = [k for k in BENCHMARKS[bd["modality"]].perceptual if k in ours["results"]
               and any(v is not None for v in ours["results"][k])] if plot else []
    if plotted:
        bd["metric_plots"] = {k: f"rd_{k}.png" for k in plotted}
    atomic_write(folder / "bd.json", (json.dumps(bd, indent=1, ensure_ascii=False) + "\n").encode("utf-8"), force=True)
    atomic_write(folder / "report.md", _markdown(folder, ours, others, bd).encode("utf-8"), force=True)
    if plot:
        plot_folder(folder)
        for k in plotted:
            plot_metric_folder(folder, k)
    return bd
