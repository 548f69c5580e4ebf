import io

import numpy as np
import pytest
from hanzi_grader.models.recognizer import Recognizer
from hanzi_grader.models.results import Verdict
from PIL import Image


@pytest.fixture(scope="module")
def recognizer(tiny_bundle) -> Recognizer:
    return Recognizer.load(tiny_bundle)


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_loads_the_bundle_and_reports_untrained(recognizer, tiny_bundle):
    assert recognizer.trained is False
    assert recognizer.manifest.architecture == "melnyk-tiny-32"
    assert recognizer.input_size == 32
    assert recognizer.bundle.path == tiny_bundle


def test_mixed_sources_and_a_bad_image_in_one_batch(recognizer, char_image, real_dev_dir):
    yong = char_image("永", side=80)
    real = real_dev_dir / "images" / "dev-0001.png"
    images = [yong, png(yong), Image.fromarray(yong), str(real), real, b"not an image", yong]
    results = recognizer.recognize(images, top_n=3)
    assert len(results) == len(images)
    bad = results[5]
    assert not bad.ok and bad.error_type == "InvalidImage" and "not an image" in bad.error
    for result in results[:5] + results[6:]:
        assert result.ok and len(result.candidates) == 3
        confidences = [c.confidence for c in result.candidates]
        assert confidences == sorted(confidences, reverse=True)
        assert all(c.char != "<unknown>" for c in result.candidates)
        assert isinstance(result.unknown, bool)
        assert result.verdict is None and result.similarity is None
    # the same image from different sources gives the same answer
    assert results[0].candidates == results[2].candidates
    assert results[3].candidates == results[4].candidates


def test_classify_and_verify_mixed_in_one_forward_pass(recognizer, char_image, monkeypatch):
    calls = []
    forward = recognizer._forward
    monkeypatch.setattr(recognizer, "_forward", lambda x: calls.append(len(x)) or forward(x))
    yong, shui = char_image("永"), char_image("水")
    results = recognizer.recognize([yong, shui, yong, shui], targets=["永", None, "A", "永"])
    assert calls == [4]
    assert results[0].target == "永" and results[0].verdict in set(Verdict)
    assert -1.0 <= results[0].similarity <= 1.0
    assert results[1].verdict is None
    assert results[2].verdict is Verdict.INVALID_TARGET and results[2].similarity is None
    assert results[3].verdict is not Verdict.INVALID_TARGET


def test_a_printed_character_is_closest_to_its_own_template(recognizer, char_image):
    # The untrained bundle's templates are the Kai-font renderings themselves.
    from hanzi_grader.models.bundle import render_printed

    printed = (255 - render_printed("永", 32)[:, :, 0] * 255).astype(np.uint8)
    [result] = recognizer.recognize([printed], targets=["永"])
    assert result.similarity == pytest.approx(1.0, abs=2e-3)


def test_targets_must_match_images(recognizer, char_image):
    with pytest.raises(ValueError, match="2 images but 1 targets"):
        recognizer.recognize([char_image(), char_image()], targets=["永"])


def test_empty_batch(recognizer):
    assert recognizer.recognize([]) == []


def test_blank_page_is_an_invalid_image_not_a_crash(recognizer):
    [result] = recognizer.recognize([np.full((50, 50), 255, np.uint8)], targets=["永"])
    assert result.error_type == "InvalidImage" and "no ink" in result.error
    assert result.target == "永"


def test_class_activation_map_is_a_heat_map_over_the_input(recognizer, char_image):
    heat = recognizer.cam(char_image("永"))
    assert heat.mode == "RGB" and heat.size == (96, 96)  # 32-pixel input, enlarged 3x
    pixels = np.asarray(heat)
    assert pixels.std() > 0


def test_default_path_comes_from_settings(monkeypatch, tiny_bundle):
    from hanzi_grader import settings

    monkeypatch.setenv("HANZI_MODEL_DIR", str(tiny_bundle))
    settings.get_settings.cache_clear()
    try:
        assert Recognizer.load().bundle.path == tiny_bundle
    finally:
        settings.get_settings.cache_clear()


def test_top_indices_orders_as_a_stable_argsort_would():
    from hanzi_grader.models.recognizer import top_indices

    rng = np.random.default_rng(0)
    for _ in range(500):
        values = rng.integers(0, 4, rng.integers(1, 40)).astype(np.float32)  # many ties
        n = int(rng.integers(1, 45))
        expected = np.argsort(-values, kind="stable")[:n]
        assert top_indices(values, n).tolist() == expected.tolist(), (values, n)


def test_a_sample_nearer_a_stroke_missing_template_is_not_accepted(tiny_bundle, tmp_path,
                                                                     char_image):
    from hanzi_grader.models.bundle import load_bundle, save_bundle
    from hanzi_grader.models.charset import index_of
    from hanzi_grader.models.verifier import StrokeTemplates, Thresholds

    # Given a bundle whose one stroke template of 永 lies 0.2 nearer this image's embedding
    # than the full template does, and whose accept threshold the cosine alone clears
    bundle = load_bundle(tiny_bundle)
    image = char_image("永", side=90, font_size=60)
    base = Recognizer(bundle)
    plain = base.recognize([image], targets=["永"])[0]
    embedding = np.asarray(base._forward(base.prepare(image)[None])[1])[0]
    embedding = embedding / np.linalg.norm(embedding)
    target = index_of("永")
    offsets = np.concatenate([np.zeros(target + 1, np.int64), np.ones(3755 - target, np.int64)])
    strokes = StrokeTemplates(0.2 * embedding[None], offsets)
    lenient = Thresholds(accept_similarity=plain.similarity - 0.01, wrong_similarity=0.0,
                         unknown_confidence=0.0, wrong_confidence=0.0)

    def verdict(thresholds: Thresholds) -> Verdict:
        path = save_bundle(tmp_path / str(thresholds.stroke_weight), model=bundle.model,
                           architecture="melnyk-tiny-32", templates=bundle.templates,
                           template_mask=bundle.template_mask, thresholds=thresholds,
                           version="t", trained=True, stroke_templates=strokes)
        return Recognizer.load(path).recognize([image], targets=["永"])[0].verdict

    # Then the cosine alone accepts it, and the stroke margin turns it away
    assert verdict(lenient) is Verdict.CORRECT
    gated = Thresholds(**{**lenient.to_dict(), "stroke_weight": 5.0,
                          "stroke_threshold": plain.similarity - 0.5})  # margin -0.2 x 5 = -1
    assert verdict(gated) is not Verdict.CORRECT
