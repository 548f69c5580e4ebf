import io

import numpy as np
import pytest
from hanzi_grader.models.preprocessing import (
    load_image,
    otsu_threshold,
    preprocess,
    preprocess_batch,
)
from PIL import Image

from hanzi_grader.errors import InvalidImage

EXIF_ORIENTATION = 0x0112


def png_bytes(image: Image.Image, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=params.pop("format", "PNG"), **params)
    return buffer.getvalue()


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two preprocessed images."""
    a, b = a.ravel(), b.ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture()
def yong(char_image) -> np.ndarray:
    return char_image("永", side=100)


@pytest.fixture()
def reference(yong) -> np.ndarray:
    return preprocess(yong)


def test_dark_on_light_gives_bright_ink_on_black_in_the_seed_geometry(reference):
    assert reference.shape == (96, 96, 1)
    assert reference.dtype == np.float32
    assert reference.min() >= 0.0 and reference.max() <= 1.0
    plane = reference[:, :, 0]
    # The 4-pixel border is black; the ink touches the 88x88 box on its longer side.
    assert not plane[:4].any() and not plane[-4:].any()
    assert not plane[:, :4].any() and not plane[:, -4:].any()
    inner = plane[4:92, 4:92] > 0.5
    rows, cols = np.flatnonzero(inner.any(1)), np.flatnonzero(inner.any(0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) >= 84
    assert 0.05 < (plane > 0.5).mean() < 0.5  # mostly black background, some bright ink


def test_input_size_follows_the_model(yong):
    small = preprocess(yong, size=64)
    assert small.shape == (64, 64, 1)
    assert not small[:3].any() and not small[-3:].any()


def test_light_on_dark_gives_the_same_as_dark_on_light(yong, reference):
    assert similarity(preprocess(255 - yong), reference) > 0.99


def test_colour_ink_on_coloured_paper(yong, reference):
    ink = yong[:, :, None] < 128
    colour = np.where(ink, np.array([20, 30, 160]), np.array([250, 240, 190])).astype(np.uint8)
    assert similarity(preprocess(colour), reference) > 0.95


def test_transparent_png_is_composited_on_white(yong, reference):
    # Canvas apps send black strokes with alpha on a fully transparent *black* background.
    rgba = np.zeros((*yong.shape, 4), dtype=np.uint8)
    rgba[:, :, 3] = 255 - yong
    data = png_bytes(Image.fromarray(rgba, "RGBA"))
    grey = load_image(data)
    assert grey.mode == "L"
    assert np.asarray(grey)[0, 0] == 255
    assert similarity(preprocess(data), reference) > 0.99


def test_exif_orientation_of_a_phone_photo_is_applied(yong):
    upright = Image.fromarray(yong)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # how the camera wrote the pixels
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6  # "rotate 90 clockwise to display"
    data = png_bytes(stored, format="JPEG", quality=95, exif=exif.tobytes())
    loaded = np.asarray(load_image(data), dtype=np.float32)
    assert loaded.shape == yong.shape
    assert np.abs(loaded - yong).mean() < 8  # upright again, up to JPEG noise
    assert np.abs(np.asarray(stored, dtype=np.float32) - yong).mean() > 30


def test_small_character_in_a_large_page_with_specks_or_a_grid_cell(char_image, reference):
    page = np.full((900, 1200), 235, dtype=np.uint8)
    page[400:500, 600:700] = np.minimum(page[400:500, 600:700], char_image("永", side=100))
    rng = np.random.default_rng(0)
    for y, x in rng.integers(0, 900, size=(40, 2)):
        page[y, x] = 30  # dust
    assert similarity(preprocess(page), reference) > 0.97
    page[380:382, 580:721] = 40  # a grid cell's frame around the character
    page[519:521, 580:721] = 40
    page[380:521, 580:582] = 40
    page[380:521, 719:721] = 40
    cell = page[380:521, 580:721]
    assert similarity(preprocess(cell), reference) > 0.97


def test_a_stroke_spanning_a_tight_crop_is_not_taken_for_a_ruled_line():
    kou = np.full((60, 60), 255, dtype=np.uint8)
    kou[:5, :] = 0  # top stroke across the whole width, touching the side strokes
    kou[:, :5] = 0
    kou[:, -5:] = 0
    kou[-5:, :] = 0
    plane = preprocess(kou)[:, :, 0]
    assert plane[4:8, 10:86].mean() > 0.9
    assert plane[40:56, 40:56].max() == 0  # the inside stays empty: nothing else was cropped to


@pytest.mark.parametrize(
    "array",
    [
        np.full((80, 80), 255, np.uint8),
        np.zeros((80, 80), np.uint8),
        np.full((80, 80), 128, np.uint8),
        np.clip(np.random.default_rng(1).normal(240, 4, (300, 300)), 0, 255).astype(np.uint8),
    ],
    ids=["all-white", "all-black", "flat-grey", "blank-page-with-paper-noise"],
)
def test_no_ink_is_refused(array):
    with pytest.raises(InvalidImage, match="no ink found"):
        preprocess(array)


def test_a_blank_page_with_a_few_dust_specks_is_refused():
    page = np.full((1000, 1000), 250, dtype=np.uint8)
    page[100, 100] = page[500, 700] = page[900, 20] = 0
    with pytest.raises(InvalidImage, match="no ink found"):
        preprocess(page)


def test_corrupt_truncated_and_non_image_inputs_name_what_was_received(yong, tmp_path):
    data = png_bytes(Image.fromarray(yong))
    with pytest.raises(InvalidImage, match="corrupt or truncated"):
        load_image(data[: len(data) // 2])
    with pytest.raises(InvalidImage, match=r"not an image.*hello"):
        load_image(b"hello, not a picture")
    with pytest.raises(InvalidImage, match="empty image"):
        load_image(b"")
    missing = tmp_path / "nope.png"
    with pytest.raises(InvalidImage, match=r"nope\.png"):
        load_image(missing)
    with pytest.raises(InvalidImage, match="is a directory"):
        load_image(tmp_path)  # a directory
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(data[:100])
    with pytest.raises(InvalidImage, match=r"corrupt\.png"):
        load_image(corrupt)
    with pytest.raises(InvalidImage, match="int"):
        load_image(12345)


def test_pixel_limit_is_checked_before_decoding(yong):
    big = Image.fromarray(np.tile(yong, (20, 20)))  # 2000x2000
    truncated = png_bytes(big)[:5000]  # decoding would fail; the size check must come first
    with pytest.raises(InvalidImage, match=r"too large.*2000x2000"):
        load_image(truncated, max_pixels=1_000_000)


def test_byte_limit(yong):
    with pytest.raises(InvalidImage, match="too large"):
        load_image(png_bytes(Image.fromarray(yong)), max_bytes=100)


def test_sixteen_bit_png_is_scaled_to_eight_bit(yong, reference):
    sixteen = Image.fromarray(yong.astype(np.uint16) * 257)
    loaded = load_image(png_bytes(sixteen))
    assert loaded.mode == "L"
    assert np.array_equal(np.asarray(loaded), yong)
    assert similarity(preprocess(yong.astype(np.uint16) * 257), reference) > 0.999


def test_palette_gif_and_cmyk(yong, reference):
    palette = Image.fromarray(yong).convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE)
    assert similarity(preprocess(png_bytes(palette, format="GIF")), reference) > 0.98
    cmyk = Image.fromarray(yong).convert("CMYK")
    assert similarity(preprocess(cmyk), reference) > 0.99


def test_float_and_bool_arrays(yong, reference):
    assert similarity(preprocess(yong / 255.0), reference) > 0.999
    assert similarity(preprocess(yong > 128), reference) > 0.97


def test_otsu_splits_a_two_level_image_between_its_levels():
    grey = np.array([[10] * 30 + [200] * 70], dtype=np.uint8)
    threshold, contrast = otsu_threshold(grey)
    assert 10 <= threshold < 200
    assert contrast == pytest.approx(190)


def test_preprocess_batch_stacks(yong):
    batch = preprocess_batch([yong, 255 - yong, Image.fromarray(yong)], size=48)
    assert batch.shape == (3, 48, 48, 1)
    assert preprocess_batch([], size=48).shape == (0, 48, 48, 1)


def test_real_handwriting_files(real_dev_dir):
    files = sorted((real_dev_dir / "images").glob("*.png"))
    for path in files[:5] + files[-13:]:
        plane = preprocess(path)[:, :, 0]
        assert not plane[:4].any() and not plane[-4:].any()
        assert 0.005 < plane.mean() < 0.6, path.name  # some thin, faint pencil too


def colour_photo(seed: int = 1) -> Image.Image:
    """A colourful scene-like picture: gradients and waves in every channel, with noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:240, 0:320]
    rgb = np.stack([(x * 0.6 + 40 * np.sin(y / 17)) % 256, (y * 0.8 + 30 * np.cos(x / 23)) % 256,
                    (x + y) * 0.35 % 256], -1)
    return Image.fromarray(np.clip(rgb + rng.normal(0, 18, rgb.shape), 0, 255).astype(np.uint8))


def written_on(paper: tuple[int, int, int], ink: tuple[int, int, int],
               grid: tuple[int, int, int] | None = None) -> Image.Image:
    from PIL import ImageDraw

    image = Image.new("RGB", (100, 100), paper)
    draw = ImageDraw.Draw(image)
    if grid:  # a red practice-sheet cell
        draw.rectangle([2, 2, 97, 97], outline=grid, width=2)
        draw.line([50, 0, 50, 100], fill=grid)
    draw.ellipse([25, 25, 75, 75], outline=ink, width=6)
    return image


def test_a_colour_photo_is_not_a_character_on_paper():
    data = png_bytes(colour_photo(), format="JPEG")
    with pytest.raises(InvalidImage, match=r"not a character on paper.*colour photo"):
        load_image(data, reject_colour_photos=True)
    assert load_image(data).mode == "L"  # only when asked (training never asks)


@pytest.mark.parametrize("paper, ink, grid", [
    ((255, 255, 255), (20, 40, 200), None),        # blue ink
    ((255, 255, 255), (10, 10, 10), (220, 40, 40)),  # a red grid
    ((250, 240, 215), (30, 30, 30), None),         # cream paper
    ((235, 215, 190), (60, 50, 40), None),         # warm lamp light
    ((250, 240, 150), (20, 20, 90), None),         # a yellow pad
])
def test_ink_on_tinted_paper_is_accepted(paper, ink, grid):
    data = png_bytes(written_on(paper, ink, grid))
    assert load_image(data, reject_colour_photos=True).mode == "L"
