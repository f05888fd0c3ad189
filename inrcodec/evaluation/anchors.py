"""Published and measured rate-distortion anchor curves (reference data, typed into the source).

Where the numbers come from
---------------------------
Every number below was copied, as published, from the small result files collected in the project's
shared reference folder (``shared/data/reference/``) and the tables in ``shared/docs/ANCHORS.md``
(section 0.2 for Kodak). Those files are copies of the anchors' own repositories:

* ``EmilienDupont/coinpp`` ``results/{kodak,librispeech,era5}/*.json`` (COIN++, and the COIN, BPG,
  VTM, JPEG, JPEG 2000 and MP3 baselines published alongside it; VTM is CompressAI's
  ``results/image/kodak/vtm.json``),
* ``EmilienDupont/coin`` ``results.json`` (COIN on Kodak),
* Strümpler et al., ``inr_based_compression`` ``results/KODAK/kodak_meta_learned_7_bit.json``,
* ``google-deepmind/c3_neural_compression`` ``baselines/kodak.py`` (C3),
* ``Orange-OpenSource/Cool-Chic`` ``results/v5.0/image-kodak.tsv`` (Cool-chic 5.0; the only derived
  curve here: the per-lambda mean of the 24 per-image rows, bpp rounded to 6 and PSNR to 4 decimals,
  matching ANCHORS.md 0.2),
* ``measured_here/*.json``: classical codecs run on this project's machines (Pillow JPEG 4:2:0,
  WebP, AVIF, JPEG 2000, JPEG XL, the x265 BPG 4:4:4 reproduction; MP3 and Opus on LibriSpeech).

Nothing here reads those files at run time; the values are copied with the precision they were
published with (no re-measurement, no re-rounding). The ``source`` string of each entry names the
file it came from and ``notes`` summarises the published description.

Conventions
-----------
Each dataset is a dict ``name -> entry``; each entry is a dict with

* ``"rate"``: the rates, strictly increasing; also available under the unit key (``"bpp"``,
  ``"kbps"`` or ``"bits_per_field"``),
* ``"psnr"``: PSNR in dB, one per rate,
* ``"unit"``: the rate unit, ``"bpp"``, ``"kbps"`` or ``"bits per field"``,
* ``"source"`` and ``"notes"``: provenance strings.

``KODAK``: 24 Kodak images (768×512), bits per pixel vs mean PSNR (RGB, per image then averaged).
``LIBRISPEECH``: LibriSpeech test-clean, first 3 s at 16 kHz, kbps vs PSNR of the waveform mapped
from [-1, 1] to [0, 1] (coinpp's json calls the kbps field "bpp").
``ERA5``: ERA5 2 m temperature on the 46×90 grid, range-normalised PSNR; rate in bits per field is
the published bpp × 4140 (= 46 × 90) pixels, the published bpp is kept under ``"bpp"``.

Use :func:`curve` to get ``(rates, psnrs)`` and :func:`curves` for a ``plot_rd``-ready dict.
"""

from __future__ import annotations

from typing import Any, Sequence

ERA5_PIXELS_PER_FIELD = 46 * 90

_UNITS = {"bpp": "bpp", "kbps": "kbps", "bits_per_field": "bits per field"}


def _entry(
    rate_key: str, *, psnr: Sequence[float], source: str, notes: str, **rate: Sequence[float]
) -> dict[str, Any]:
    """One entry: ``rate`` (also under ``rate_key``), ``psnr``, ``unit``, ``source``, ``notes``."""
    (key, values), = rate.items()
    if key != rate_key:
        raise ValueError(f"rate given as {key!r}, expected {rate_key!r}")
    values = [float(v) for v in values]
    return {
        "rate": values,
        rate_key: values,
        "psnr": [float(v) for v in psnr],
        "unit": _UNITS[rate_key],
        "source": source,
        "notes": notes,
    }


def _era5_entry(
    *, bpp: Sequence[float], psnr: Sequence[float], source: str, notes: str
) -> dict[str, Any]:
    """An ERA5 entry: rate in bits per field (bpp × 4140, derived); published bpp under "bpp"."""
    entry = _entry(
        "bits_per_field",
        bits_per_field=[float(b) * ERA5_PIXELS_PER_FIELD for b in bpp],
        psnr=psnr,
        source=f"{source} (rate = published bpp x {ERA5_PIXELS_PER_FIELD} pixels per field)",
        notes=notes,
    )
    entry["bpp"] = [float(b) for b in bpp]
    return entry


KODAK: dict[str, dict[str, Any]] = {
    "COIN (Dupont et al. 2021)": _entry(
        "bpp",
        bpp=[0.0368, 0.07361, 0.1604, 0.3074, 0.6109, 1.209],
        psnr=[22.408, 23.205, 24.6410833, 26.412125, 28.408, 30.644],
        source="EmilienDupont/coin results.json (= coinpp results/kodak/coin.json)",
        notes="per-image SIREN, fp16 weights",
    ),
    "COIN++ (Dupont et al. 2022)": _entry(
        "bpp",
        bpp=[
            0.06656413525342941, 0.1324574202299118, 0.2659042477607727, 0.3982515782117843,
            0.5365909337997437,
        ],
        psnr=[
            23.68178367614746, 24.926698684692383, 26.142541885375977, 27.031984329223633,
            27.798105239868164,
        ],
        source="EmilienDupont/coinpp results/kodak/coinpp.json",
        notes="5-bit latents, entropy-coded; latent 16/32/64 @3 inner steps, 96/128 @10 steps",
    ),
    "Strümpler et al. 2022, meta-learned (7 bit)": _entry(
        "bpp",
        bpp=[0.08315870496961805, 0.1546198527018229, 0.24893612331814235, 0.7844628228081597],
        psnr=[25.56004644305473, 27.019205940785646, 28.28015802285809, 32.13873826006784],
        source=(
            "inr_based_compression results/KODAK/kodak_meta_learned_7_bit.json (= 'SPY' in C3 "
            "baselines/kodak.py)"
        ),
        notes="MAML init, 7-bit weights, QAT + AdaRound + arithmetic coding",
    ),
    "C3 (Kim et al. 2024)": _entry(
        "bpp",
        bpp=[
            0.09261394, 0.1339127, 0.15318637, 0.2025493, 0.23175092, 0.27606731, 0.35064952,
            0.51440305, 0.57850416, 0.72855291, 0.8066705, 0.91400582, 1.07998864, 1.40934119,
        ],
        psnr=[
            27.06491995, 28.45003923, 28.9589448, 30.03212317, 30.59409277, 31.33577712,
            32.39495262, 34.36792223, 35.0161012, 36.38384724, 37.03668944, 37.84491142,
            38.98360984, 40.84745836,
        ],
        source="google-deepmind/c3_neural_compression baselines/kodak.py, entry 'C3'",
        notes="single config; PSNR per image then averaged",
    ),
    "Cool-chic 5.0": _entry(
        "bpp",
        bpp=[0.083855, 0.218562, 0.4819, 0.759425, 1.357134],
        psnr=[27.4353, 30.8587, 34.521, 37.2474, 41.1675],
        source=(
            "Orange-OpenSource/Cool-Chic results/v5.0/image-kodak.tsv, mean over the 24 images per "
            "lambda (ANCHORS.md 0.2)"
        ),
        notes="lambda = 0.02/0.004/0.001/0.0004/0.0001; mean bpp and mean PSNR (dB) over images",
    ),
    "BPG444": _entry(
        "bpp",
        bpp=[
            0.06776767306857638, 0.1610234578450521, 0.35155402289496523, 0.6846966213650174,
            1.1996654934353295, 1.9297120836046002, 3.0578757392035594, 4.703142801920573,
            7.39045715332031, 9.682867262098526,
        ],
        psnr=[
            26.19512806390954, 28.68154930675666, 31.5946565907943, 34.857473813062924,
            38.259886899666974, 41.47887283561703, 44.70311031066196, 47.63251604714922,
            50.80684600812918, 52.906579175254215,
        ],
        source="EmilienDupont/coinpp results/kodak/bpg_444_x265_ycbcr.json",
        notes="BPG 0.9.8, 8 bit 4:4:4, x265, YCbCr",
    ),
    "VTM": _entry(
        "bpp",
        bpp=[
            0.04824490017361111, 0.11249542236328125, 0.24581654866536465, 0.4905454847547744,
            0.8748101128472224, 1.43084971110026, 2.3246070014105906, 3.6326090494791665,
            5.66160159640842, 8.34449683295356,
        ],
        psnr=[
            26.14484539430146, 28.493021754424603, 31.199873720014093, 34.26153257289846,
            37.419793158067485, 40.42444421698711, 43.505766973634486, 46.59176008512777,
            49.979095347043945, 58.34997919893516,
        ],
        source=(
            "EmilienDupont/coinpp results/kodak/vtm.json (CompressAI results/image/kodak/vtm.json; "
            "C3 'VTM' is its first 8 points)"
        ),
        notes="VTM intra as published by CompressAI (VVCSoftware_VTM)",
    ),
    "JPEG (coinpp)": _entry(
        "bpp",
        bpp=[
            0.22115325927734372, 0.32661437988281244, 0.42312622070312506, 0.5083855523003472,
            0.5878660413953993, 0.6601265801323783, 0.728946261935764, 0.786026848687066,
            0.8497187296549479, 0.9060007731119791, 0.9643800523546006, 1.0372119479709203,
            1.1273964775933163, 1.23984612358941, 1.3688269721137154, 1.5718070136176217,
            1.8588163587782118, 2.350199381510416, 3.4013400607638893,
        ],
        psnr=[
            23.779894921045457, 26.57723034342358, 28.042246379237767, 29.04180914810682,
            29.78473021842612, 30.378313496658652, 30.903164761925012, 31.307827225129476,
            31.70484530103775, 32.05865273799422, 32.39929573599792, 32.789915599755076,
            33.234742421489976, 33.792594320368266, 34.39429509119509, 35.239001425077355,
            36.32886455167303, 37.9121247026983, 40.556657112988766,
        ],
        source="EmilienDupont/coinpp results/kodak/jpeg.json",
        notes="Pillow 7.1.2",
    ),
    "JPEG 4:2:0 (measured here)": _entry(
        "bpp",
        bpp=[
            0.17308807373046875, 0.17319488525390625, 0.1818322075737847, 0.20049285888671875,
            0.22115410698784724, 0.24251895480685762, 0.28473832872178817, 0.32658894856770837,
            0.3662075466579861, 0.42309824625651044, 0.5082694159613715, 0.5876761542426215,
            0.6597925821940104, 0.7855716281467015, 0.9055209689670138, 1.0365854899088542,
            1.2387576633029516, 1.5702429877387154, 2.3463228013780384,
        ],
        psnr=[
            21.47502392705041, 21.476965512254253, 21.68351439233275, 22.80873815605708,
            23.85221750663386, 24.695327829006192, 25.848560403643205, 26.671820361330663,
            27.32721822157538, 28.14477805517322, 29.144544849492874, 29.89256142585352,
            30.491472872108307, 31.422047307855866, 32.17381570095742, 32.90757794140709,
            33.91674809048171, 35.369984720838254, 38.033973341635495,
        ],
        source="measured here: shared/data/reference/measured_here/kodak_jpeg420.json",
        notes=(
            "JPEG, Pillow 13.0 (libjpeg-turbo 3.2), quality sweep, 4:2:0 (Pillow default), optimize"
            " off; PSNR-RGB per image then mean over 24 images, bpp per image then mean"
        ),
    ),
    "WebP (measured here)": _entry(
        "bpp",
        bpp=[
            0.102569580078125, 0.17419772677951392, 0.21742418077256942, 0.2744157579210069,
            0.3264431423611111, 0.3774871826171875, 0.4762098524305555, 0.5772162543402778,
            0.6727345784505209, 0.7686598036024305, 0.8772650824652777, 1.1543104383680556,
            1.9296620686848958, 2.7982279459635415,
        ],
        psnr=[
            25.67485454072936, 27.36608950360566, 28.108570457287982, 28.931855837927895,
            29.600214116419654, 30.193567885518405, 31.228340810377546, 32.20193786010043,
            33.008892322444616, 33.73244223562931, 34.48091733115009, 36.18409924926443,
            39.446273769376624, 41.65980091545104,
        ],
        source="measured here: shared/data/reference/measured_here/kodak_webp.json",
        notes=(
            "WebP lossy, Pillow 13.0 (libwebp 1.6.0), method=6, quality sweep; PSNR-RGB per image "
            "then mean over 24 images, bpp per image then mean"
        ),
    ),
    "AVIF (measured here)": _entry(
        "bpp",
        bpp=[
            0.0692198011610243, 0.07644483778211807, 0.10560184054904515, 0.12435743543836804,
            0.1629647148980035, 0.18980916341145834, 0.24845971001519096, 0.3101535373263889,
            0.38238186306423616, 0.602675543891059, 0.8886218600802952, 1.2444339328342016,
            1.6712383694118922, 2.4733946058485246,
        ],
        psnr=[
            25.621367292844496, 25.865789793948025, 26.806820426596627, 27.29447768359579,
            28.13261165488775, 28.620818427123027, 29.607195941304465, 30.432459854380966,
            31.279755822999793, 33.398672349134635, 35.427897410052104, 37.45145230729434,
            39.15287425245817, 41.266844180799836,
        ],
        source="measured here: shared/data/reference/measured_here/kodak_avif.json",
        notes=(
            "AVIF, Pillow 13.0 built-in (libavif 1.4.2 + aom), quality sweep, speed 6 (default), "
            "4:2:0 (default), max_threads=1; PSNR-RGB per image then mean over 24 images, bpp per "
            "image then mean"
        ),
    ),
    "JPEG 2000 (measured here)": _entry(
        "bpp",
        bpp=[
            0.049778408474392355, 0.07454172770182292, 0.09971533881293403, 0.14972347683376738,
            0.19907633463541666, 0.29941897922092015, 0.39896477593315965, 0.49860890706380206,
            0.5985887315538194, 0.7490200466579862, 0.9991056654188367, 1.2485826280381944,
            1.498324924045139, 1.9974712795681426,
        ],
        psnr=[
            24.652901067625965, 25.637100452907106, 26.39304799227728, 27.565572777515314,
            28.478447659602878, 29.9638217630192, 31.15388665393304, 32.17961433589587,
            33.0743081468512, 34.310175436816934, 35.995206660917205, 37.411575529605635,
            38.66384462792221, 40.79659639107205,
        ],
        source="measured here: shared/data/reference/measured_here/kodak_jpeg2000.json",
        notes=(
            "JPEG 2000, Pillow 13.0 (OpenJPEG 2.5.4), irreversible 9/7 + ICT (mct=1), "
            "quality_mode=rates (target bpp), raw .j2k codestream; PSNR-RGB per image then mean "
            "over 24 images, bpp per image then mean"
        ),
    ),
    "JPEG XL (measured here)": _entry(
        "bpp",
        bpp=[
            0.15478685167100695, 0.18729824490017358, 0.23641204833984375, 0.2918540106879341,
            0.304258558485243, 0.41259511311848956, 0.45983547634548616, 0.5359810723198785,
            0.6578038533528646, 0.8407694498697916, 1.1651297675238714, 1.9016613430447051,
        ],
        psnr=[
            26.00565330164835, 26.425802797005378, 26.91015835845516, 27.380109551048847,
            28.919057254776664, 30.209256103013928, 30.735738424381832, 31.46652426136303,
            32.415223864070754, 33.783253567848824, 35.66240681749439, 38.80924218958726,
        ],
        source="measured here: shared/data/reference/measured_here/kodak_jxl.json",
        notes=(
            "JPEG XL, pillow-jxl-plugin 1.3.8 (libjxl 0.12 via jpegxl-rs), effort 7, quality sweep,"
            " bare codestream, 1 thread; PSNR-RGB per image then mean over 24 images, bpp per image"
            " then mean"
        ),
    ),
    "x265 BPG 4:4:4 reproduction (measured here)": _entry(
        "bpp",
        bpp=[
            0.03886328803168402, 0.055089314778645836, 0.09273698594835071, 0.154007805718316,
            0.2495854695638021, 0.38721042209201384, 0.5792041354709201, 0.829532199435764,
            1.150011698404948, 1.5380147298177083, 2.0441996256510415, 2.9651031494140625,
            4.183895534939236,
        ],
        psnr=[
            24.72692382075182, 25.611290678743973, 27.004548958623854, 28.527531372207118,
            30.229720009216805, 32.047815098557585, 33.993227916843104, 36.005306752584026,
            38.02159183760108, 39.97493960835998, 41.89294012304386, 44.48899387757373,
            46.876671287471176,
        ],
        source=(
            "measured here: "
            "shared/data/reference/measured_here/kodak_x265_bpg_veryslow_ssim_noinfo.json"
        ),
        notes=(
            "as x265_bpg_veryslow_ssim plus x265-params info=0 (no x265 options SEI; bpgenc also "
            "sets bEmitInfoSEI=0). This is the BPG 0.9.8 444 reproduction; PSNR-RGB per image then "
            "mean over 24 images, bpp per image then mean"
        ),
    ),
}

LIBRISPEECH: dict[str, dict[str, Any]] = {
    "COIN++ (Dupont et al. 2022)": _entry(
        "kbps",
        kbps=[
            5.630615459336983, 13.806955716315246, 27.481792527914564, 65.23163053891498,
            131.37950656945011,
        ],
        psnr=[
            36.006412506103516, 39.34568405151367, 42.897789001464844, 48.1185302734375,
            54.68132019042969,
        ],
        source="EmilienDupont/coinpp results/librispeech/coinpp.json (its 'bpp' field is kbps)",
        notes="3 inner steps; 5/6/6/7/7-bit latents",
    ),
    "MP3 (coinpp)": _entry(
        "kbps",
        kbps=[20.0, 28.0, 36.0, 44.0, 52.0, 60.0, 72.0, 88.0, 124.0],
        psnr=[
            43.52290076335878, 45.9030534351145, 47.740839694656486, 49.97022900763359,
            51.71832061068702, 52.72366412213741, 53.27633587786259, 53.70916030534351,
            53.85954198473282,
        ],
        source="EmilienDupont/coinpp results/librispeech/mp3.json (its 'bpp' field is kbps)",
        notes="LAME 3.100",
    ),
    "MP3 (measured here)": _entry(
        "kbps",
        kbps=[
            8.256, 16.512, 24.768, 33.024, 41.28, 49.536, 57.792, 66.048, 82.56, 99.072, 132.096,
        ],
        psnr=[
            40.08735805657472, 42.55256947203731, 44.1026948234905, 46.79597671634509,
            47.53282647740597, 47.980875599034896, 48.79779407354363, 49.39823836262743,
            49.99750719561996, 50.41406351630797, 50.50094443939165,
        ],
        source=(
            "measured here: shared/data/reference/measured_here/librispeech_3s_mp3_lameenc_cbr.json"
        ),
        notes=(
            "MP3 via lameenc (LAME 3.100 engine) CBR, 16 kHz mono in/out, quality 2; decoded with "
            "libsndfile; kbps = 8*file bytes/duration; LibriSpeech test-clean, 3 clips, first 3 s; "
            "PSNR on waveform mapped [-1,1]->[0,1], per clip then mean"
        ),
    ),
    "Opus audio (measured here)": _entry(
        "kbps",
        kbps=[
            6.478222222222222, 8.269333333333334, 12.361777777777776, 16.245333333333335,
            24.18755555555556, 32.03288888888889, 48.03111111111111, 73.31111111111112,
        ],
        psnr=[
            37.700050967359736, 40.04216181771414, 42.00948915453373, 44.208245926918266,
            47.13427982306077, 49.30415094543597, 52.187272517093284, 56.06327744224939,
        ],
        source=(
            "measured here: "
            "shared/data/reference/measured_here/librispeech_3s_opus_ffmpeg_audio.json"
        ),
        notes=(
            "Opus via ffmpeg 5.1 libopus (1.3.1), VBR, application=audio, 20 ms frames, Ogg "
            "container; kbps = 8*Ogg file bytes/duration, kbps_packets = Opus packet payload bytes "
            "only; decoded by ffmpeg, resampled 48->16 kHz; LibriSpeech test-clean, 3 clips, first "
            "3 s; PSNR on waveform mapped [-1,1]->[0,1], per clip then mean"
        ),
    ),
    "Opus VoIP (measured here)": _entry(
        "kbps",
        kbps=[
            6.390222222222223, 8.22311111111111, 12.253333333333332, 16.16, 24.09866666666667,
            31.992, 48.016, 65.26666666666667,
        ],
        psnr=[
            37.04741159456961, 38.435497317496406, 39.55553757193076, 40.583368532051004,
            41.51234967931655, 42.15973911160997, 42.83174262483726, 43.57188721536058,
        ],
        source=(
            "measured here: "
            "shared/data/reference/measured_here/librispeech_3s_opus_ffmpeg_voip.json"
        ),
        notes=(
            "Opus via ffmpeg 5.1 libopus (1.3.1), VBR, application=voip, 20 ms frames, Ogg "
            "container; kbps = 8*Ogg file bytes/duration, kbps_packets = Opus packet payload bytes "
            "only; LibriSpeech test-clean, 3 clips, first 3 s; PSNR on waveform mapped "
            "[-1,1]->[0,1], per clip then mean"
        ),
    ),
}

ERA5: dict[str, dict[str, Any]] = {
    "COIN++ (Dupont et al. 2022)": _era5_entry(
        bpp=[
            0.004135420241793573, 0.008304958988502982, 0.010268050115465542, 0.012216569836012983,
            0.018609970203344373, 0.021527704985245415,
        ],
        psnr=[
            38.65969467163086, 43.941932678222656, 46.008445739746094, 46.744571685791016,
            47.51585006713867, 47.74769592285156,
        ],
        source="EmilienDupont/coinpp results/era5/coinpp.json",
        notes="3 inner steps; latent 4 @5 bit, 8 @5/6/7 bit, 12 @7/8 bit",
    ),
    "BPG (coinpp)": _era5_entry(
        bpp=[0.15, 0.2, 0.4, 0.7, 1.0],
        psnr=[
            30.974930585004063, 32.40790370371859, 35.87828484521493, 39.010783384543885,
            41.6325736360389,
        ],
        source="EmilienDupont/coinpp results/era5/bpg_444_x265_ycbcr.json",
        notes="BPG 0.9.8",
    ),
    "JPEG 2000 (coinpp)": _era5_entry(
        bpp=[0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2],
        psnr=[
            31.24024752951357, 32.81006990229553, 34.059817509550854, 35.26659286976989,
            36.03689585705999, 37.02994177564116, 37.80360094910095,
        ],
        source="EmilienDupont/coinpp results/era5/jpeg2000.json",
        notes="OpenJPEG 2.4.0",
    ),
    "JPEG (coinpp)": _era5_entry(
        bpp=[
            0.7884057971014493, 0.8115942028985508, 0.927536231884058, 1.0434782608695652,
            1.1594202898550725, 1.2753623188405796, 1.391304347826087,
        ],
        psnr=[
            26.665994668279755, 27.90256539644856, 31.813914877327186, 33.7260419471604,
            35.01756232193459, 35.9352974125565, 36.58708297503877,
        ],
        source="EmilienDupont/coinpp results/era5/jpeg.json",
        notes="Pillow 8.1.0",
    ),
}

DATASETS: dict[str, dict[str, dict[str, Any]]] = {
    "kodak": KODAK,
    "librispeech": LIBRISPEECH,
    "era5": ERA5,
}


def _dataset(dataset: str | dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    if isinstance(dataset, dict):
        return dataset
    try:
        return DATASETS[dataset.lower()]
    except KeyError:
        raise KeyError(f"unknown dataset {dataset!r}; known: {sorted(DATASETS)}") from None


def curve(dataset: str | dict[str, dict[str, Any]], name: str) -> tuple[list[float], list[float]]:
    """``(rates, psnrs)`` of one anchor; ``dataset`` is "kodak"/"librispeech"/"era5" or a dict."""
    entries = _dataset(dataset)
    try:
        entry = entries[name]
    except KeyError:
        raise KeyError(f"unknown anchor {name!r}; known: {sorted(entries)}") from None
    return list(entry["rate"]), list(entry["psnr"])


def curves(
    dataset: str | dict[str, dict[str, Any]], names: Sequence[str] | None = None
) -> dict[str, tuple[list[float], list[float]]]:
    """``{name: (rates, psnrs)}`` for the named anchors (all, in table order, if ``names`` is None).

    The result can be passed straight to :func:`inrcodec.evaluation.plot.plot_rd` as ``anchors``.
    """
    entries = _dataset(dataset)
    return {name: curve(entries, name) for name in (entries if names is None else names)}
