import hashlib
import re

import pytest
from hanzi_grader.models import charset

from hanzi_grader.errors import InvalidTarget


def test_classes_are_the_3755_level1_characters_in_gb_order():
    assert len(charset.CLASSES) == 3755
    assert len(set(charset.CLASSES)) == 3755
    assert charset.CLASSES[0] == "啊" == b"\xb0\xa1".decode("gb2312")
    assert charset.CLASSES[-1] == "座" == b"\xd7\xf9".decode("gb2312")
    codes = [c.encode("gb2312") for c in charset.CLASSES]
    assert codes == sorted(codes)


def test_index_and_char_round_trip():
    assert charset.index_of("鲍") == 104
    assert charset.char_of(104) == "鲍"
    for index in (0, 1000, 3754):
        assert charset.index_of(charset.char_of(index)) == index


def test_unknown_label_follows_the_characters():
    assert charset.UNKNOWN_INDEX == 3755
    assert charset.char_of(3755) == charset.UNKNOWN_LABEL == "<unknown>"
    with pytest.raises(IndexError):
        charset.char_of(3756)


@pytest.mark.parametrize("value", ["A", "", "鲍鲍", "龘", "𠀀", None, 7])
def test_index_of_refuses_anything_outside_the_set_and_names_it(value):
    with pytest.raises(InvalidTarget, match=re.escape(repr(value))):
        charset.index_of(value)
    assert not charset.is_known(value)


def test_level2_character_is_not_known():
    level2 = b"\xd8\xa1".decode("gb2312")
    assert not charset.is_known(level2)
    with pytest.raises(InvalidTarget, match=level2):
        charset.index_of(level2)


def test_classes_sha256_is_the_hash_of_the_joined_list():
    expected = hashlib.sha256("".join(charset.CLASSES).encode()).hexdigest()
    assert expected == charset.CLASSES_SHA256
