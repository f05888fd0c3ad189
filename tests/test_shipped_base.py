"""The shipped bases: their files verified by hash (fast), and coding a real photo (marked slow:
the shipped networks compile and fit far longer than the tiny test bases, ~1 minute each on 2 cores)."""

import hashlib
import json

import numpy as np
import pytest

from inrcodec import api
from inrcodec.core import bases
from inrcodec.core.config import FitConfig
from inrcodec.modalities import image as image_format
from inrcodec.signals import image as image_io


@pytest.fixture(scope="module")
def photo():
    cbook = pytest.importorskip("matplotlib.cbook", reason="matplotlib (dev extra) ships the sample photo")
    arr = image_io.read_array(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return arr[100:356, 128:384]  # 256 x 256 crop of the face.


@pytest.fixture(scope="module")
def shipped():
    return bases.load_base(bases.DEFAULT_BASES["image"])


def test_shipped_base_is_verified_and_identified_by_its_hash(shipped):
    data = (shipped.path / bases.PARAMS_FILE).read_bytes()
    tables = (shipped.path / bases.TABLES_FILE).read_bytes()  # The default image base ships context tables.
    assert shipped.base_id == hashlib.sha256(data + tables).digest()[:8]
    manifest = json.loads((shipped.path / bases.MANIFEST_FILE).read_text())
    assert manifest["params_sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["context_tables"]["sha256"] == hashlib.sha256(tables).hexdigest()
    assert shipped.context_tables.shape[0] == shipped.cfg.levels


def test_the_previous_image_base_stays_installed_with_its_own_id():
    """Files written with siren-image-v1 (before the context tables) name it by its id and still decode."""
    old = bases.load_base("siren-image-v1")
    assert old.context_tables is None
    assert old.base_id == hashlib.sha256((old.path / bases.PARAMS_FILE).read_bytes()).digest()[:8]
    assert old.base_id != bases.load_base(bases.DEFAULT_BASES["image"]).base_id


def test_siren_image_v2_stays_installed_for_its_files_and_v3_differs_only_in_tables_and_fit():
    """v3 is v2's network with tables counted on the latents of the fit that holds stride 1 at zero."""
    v2, v3 = bases.load_base("siren-image-v2"), bases.load_base("siren-image-v3")
    assert v2.base_id != v3.base_id and bases.installed_name(v2.base_id) == "siren-image-v2"
    assert (v2.path / bases.PARAMS_FILE).read_bytes() == (v3.path / bases.PARAMS_FILE).read_bytes()
    assert not np.array_equal(v2.context_tables, v3.context_tables)
    assert v3.manifest["fit"]["zero_levels"] == 1 and "fit" not in v2.manifest


def test_v4_is_v3_meta_trained_longer_with_its_own_tables():
    """v4 has v3's architecture and fit schedule; its weights and tables are new, so is its id."""
    v3, v4 = bases.load_base("siren-image-v3"), bases.load_base("siren-image-v4")
    assert bases.installed_name(v3.base_id) == "siren-image-v3" and v4.base_id != v3.base_id and v4.cfg == v3.cfg
    assert (v3.path / bases.PARAMS_FILE).read_bytes() != (v4.path / bases.PARAMS_FILE).read_bytes()
    assert not np.array_equal(v3.context_tables, v4.context_tables)
    assert v4.manifest["fit"] == v3.manifest["fit"]


def test_the_default_is_v5_with_adaptive_context_tables_and_v4_stays_installed():
    """v5: v4's run meta-trained further, with entropy model 5's tables (672 contexts); v4's files
    (entropy model 4) keep decoding with v4, which stays installed under its own id."""
    from inrcodec.bitstream import context_coder

    v4, default = bases.load_base("siren-image-v4"), bases.load_base(bases.DEFAULT_BASES["image"])
    assert default.name == "siren-image-v5" and bases.installed_name(v4.base_id) == "siren-image-v4"
    assert default.cfg == v4.cfg and default.base_id != v4.base_id
    assert default.manifest["fit"] == {**v4.manifest["fit"], "soft_rounding": 5.0}  # v5's fit soft-rounds its latents.
    assert context_coder.entropy_model(default.context_tables) == 5 and context_coder.entropy_model(v4.context_tables) == 4
    assert default.manifest["training"]["steps"] > v4.manifest["training"]["steps"]


def test_every_installed_base_has_its_own_4_byte_id_prefix():
    """Compact files (format 1.7) name their base by the first 4 bytes of its id."""
    ids = [bytes.fromhex(m["base_id"]) for m in bases.list_bases()]
    assert len({i[:4] for i in ids}) == len(ids) >= 10
    for base_id in ids:
        assert bases.installed_manifest(base_id[:4])["base_id"] == base_id.hex()


def test_the_default_climate_base_is_v3_and_v2_stays_installed_for_its_files():
    """v3 is v2's network meta-trained on the SPEEDY fields (meta/recipes/climate_v3.py)."""
    v2, default = bases.load_base("siren-climate-v2"), bases.load_base(bases.DEFAULT_BASES["climate"])
    assert default.name == "siren-climate-v3" and default.cfg == v2.cfg and default.base_id != v2.base_id
    assert default.manifest["value_range"] == v2.manifest["value_range"]


def test_the_default_audio_base_is_p1_with_a_ladder_per_distortion_and_v2_stays_installed():
    """p1 is v2's network meta-trained on the perceptual distortion (meta/recipes/audio_perceptual.py); both
    carry a perceptual ladder of 8 levels beside the squared-error one."""
    v2, default = bases.load_base("siren-audio-v2"), bases.load_base(bases.DEFAULT_BASES["audio"])
    assert default.name == "siren-audio-p1" and default.cfg == v2.cfg and default.base_id != v2.base_id
    assert default.manifest["meta_distortion"] == "perceptual"
    fast = api.default_fit(default, effort="fast")  # The perceptual error in the last 100 steps only.
    assert fast.weighted_steps == 100 and api.default_fit(default).weighted_steps == -1
    for base in (v2, default):
        ladder = base.manifest["distortions"]["perceptual"]
        assert set(ladder["quality_lambdas"]) == set(ladder["quality_step_index"]) == set(base.manifest["quality_lambdas"])


def test_every_installed_base_has_a_valid_schedule_for_every_effort():
    """A manifest's "fit" and "efforts" name FitConfig fields; the default image base's fast effort is
    shorter than its default schedule."""
    from inrcodec.cli import EFFORTS

    for manifest in bases.list_bases():
        base = bases.load_base(manifest["name"])
        for effort in EFFORTS:
            assert isinstance(api.default_fit(base, effort=effort), FitConfig)
    image = bases.load_base(bases.DEFAULT_BASES["image"])
    fast, default = api.default_fit(image, effort="fast"), api.default_fit(image, effort="default")
    assert fast.noise_steps + fast.ste_steps < (default.noise_steps + default.ste_steps) / 4


def test_a_tampered_context_table_is_refused(tmp_path):
    import shutil

    copy = tmp_path / "base"
    shutil.copytree(bases.load_base(bases.DEFAULT_BASES["image"]).path, copy)
    blob = bytearray((copy / bases.TABLES_FILE).read_bytes())
    blob[-30] ^= 1
    (copy / bases.TABLES_FILE).write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="sha256"):
        bases.load_base_dir(copy)


@pytest.mark.slow
def test_quality_bands_on_a_real_photo(shipped, photo):
    fit = FitConfig(noise_steps=150, ste_steps=50)
    low = api.encode(photo, quality=2, base=shipped, fit=fit)
    high = api.encode(photo, quality=6, base=shipped, fit=fit)
    assert low.bpp < high.bpp
    assert low.psnr < high.psnr
    # Measured on this crop (commit of the shipped base): q2 0.50 bpp / 24.5 dB, q6 1.03 bpp / 28.5 dB.
    assert 0.2 < low.bpp < 0.8 and low.psnr > 23.5
    assert high.bpp < 1.6 and high.psnr > 27.5
    decoded = image_format.decode(high.data, shipped)
    np.testing.assert_array_equal(decoded.array, high.reconstruction)
    assert image_format.read_header(high.data)[1].coding.entropy_model == 5  # The tables beat one Laplace per level.


@pytest.mark.slow
def test_shipped_sparse_base_is_narrow_at_its_density_and_codes_a_photo(photo):
    sparse = bases.load_base("siren-image-s10-v1")
    sp = sparse.manifest["sparsity"]
    assert sp["method"] == "l0-structured" and abs(sp["density"] - sp["target_density"]) <= 0.01
    assert sparse.cfg.num_params() == sp["nonzero_params"] < 0.11 * sp["dense_params"]
    assert sparse.cfg.macs_per_sample() < 0.2 * bases.load_base(bases.DEFAULT_BASES["image"]).cfg.macs_per_sample()
    result = api.encode(photo[:64, :64], quality=4, base=sparse, fit=FitConfig(noise_steps=30, ste_steps=10))
    decoded = api.decode(result.data)
    assert decoded.base.base_id == sparse.base_id  # Found by content hash, like any base.
    np.testing.assert_array_equal(decoded.array, result.reconstruction)
    assert result.psnr > 18
