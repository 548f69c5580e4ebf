"""The synthetic verification cases that calibration and evaluation are measured on."""

from __future__ import annotations

import numpy as np
import pytest
from hanzi_grader.models.charset import UNKNOWN_INDEX, index_of, is_known
from hanzi_grader.models.training.probes import KINDS, make_verification_set, similar_pairs


def test_look_alike_pairs_are_distinct_known_characters_both_ways():
    pairs = similar_pairs()
    assert ("己", "已") in pairs and ("已", "己") in pairs and ("土", "士") in pairs
    assert all(is_known(a) and is_known(b) and a != b for a, b in pairs)


@pytest.mark.usefixtures("stroke_data")
def test_cases_are_labelled_by_kind_and_reproducible():
    cases = make_verification_set(40, size=32, seed=5, progress=False)
    again = make_verification_set(40, size=32, seed=5, progress=False)
    assert np.array_equal(cases.images, again.images)
    assert set(cases.kinds) == set(KINDS)
    same = cases.where("correct", "incomplete")
    assert np.array_equal(cases.truth[same], cases.targets[same])
    assert (cases.truth[cases.where("wrong", "similar")]
            != cases.targets[cases.where("wrong", "similar")]).all()
    assert (cases.truth[cases.where("unknown")] == UNKNOWN_INDEX).all()
    similar = cases.where("similar")
    pairs = {(index_of(a), index_of(b)) for a, b in similar_pairs()}
    assert {(int(t), int(g)) for t, g in zip(cases.truth[similar], cases.targets[similar],
                                             strict=True)} <= pairs
