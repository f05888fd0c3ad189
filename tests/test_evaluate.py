"""`inrcodec eval` on a tiny folder with the tiny test base: CompressAI-schema JSON that reloads."""

import json

from PIL import Image

from inrcodec.cli import main
from inrcodec.results import read_results
from make_assets import synthetic_image


def test_eval_writes_results_for_inrcodec_and_baselines(tmp_path, inr_bases, capsys):
    data = tmp_path / "imgs"
    data.mkdir()
    for i, (h, w) in enumerate([(24, 40), (32, 32)]):
        Image.fromarray(synthetic_image(h, w)).save(data / f"im{i}.png")
    out = tmp_path / "res"
    rc = main(["eval", str(data), "--quality", "2,6", "--out", str(out), "--base", "tiny-test-base", "--fit-steps", "8"])
    assert rc == 0
    ours = read_results(out / "inrcodec.json")
    assert ours["name"] == "inrcodec" and len(ours["results"]["bpp"]) == 2
    assert ours["results"]["bpp"][0] < ours["results"]["bpp"][1]
    # bpp is measured from the files: per-item values are 8 * bytes / pixels, > 0.
    assert all(b > 0 for b in ours["per_item"][0]["bpp"])
    for name in ("jpeg", "webp"):
        res = read_results(out / f"{name}.json")
        assert len(res["results"]["psnr-rgb"]) == 2
    assert "inrcodec:" in capsys.readouterr().out
    json.loads((out / "inrcodec.json").read_text())  # Plain JSON on disk.
