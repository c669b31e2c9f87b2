"""Names and chat text (shared/protocol.py): what hides or reorders is refused, ordinary names in
any script, with accents or emoji, are kept; the keys that tell two names apart as a reader would;
and the trimming that the pages (String.prototype.trim) and the server share."""

import json
import sys

import pytest

from shared.protocol import (
    CHAT_ENDPOINT,
    NAME_MAX_CHARS,
    PUBLIC_ENDPOINT,
    TRIMMED,
    ProtocolError,
    clean_chat_text,
    clean_name,
    name_key,
    parse_client_frame,
    trim,
)
from tests.helpers import run_node


def refusal(name: object) -> str:
    with pytest.raises(ProtocolError) as caught:
        clean_name(name)
    assert caught.value.code == "bad_message"
    return caught.value.detail


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("\u200b", "visible"),  # issue 9: only a zero-width space
        ("\u202eevil", "bidi"),  # issue 9: starts with a right-to-left override
        ("a\u009bb", "control"),  # issue 9: a C1 control (CSI)
        ("\u200b\u200c\u200d\u2060\ufeff", "visible"),
        ("\u3164", "visible"),  # Hangul filler
        ("\u115f\u1160", "visible"),
        ("\uffa0", "visible"),  # half-width Hangul filler
        ("\u2800", "visible"),  # braille blank
        ("\ufff0", "visible"),  # default-ignorable, unassigned in this Python's tables
        ("\ufff0\ufff1\ufff2", "visible"),
        ("\u2065", "visible"),
        ("\U0001bca0", "visible"),  # shorthand format control
        ("fiona\u200a7092", "spaces"),  # a hair space looks like no space at all
        ("fiona\u2009x", "spaces"),  # thin space
        ("a\u00a0b", "spaces"),  # no-break space
        ("a" + "\u0301" * 5, "combining marks"),  # "zalgo": marks stacked over the lines around
        ("Z" + "\u0336\u0335\u0334\u0337\u0338\u0321" * 5, "combining marks"),
        ("\u00a0\u3000\u2003", "1 to 32"),  # only spaces: nothing left after trimming
        ("\u00ad", "visible"),  # soft hyphen
        ("\u0301", "visible"),  # a combining mark alone
        ("\ufe0f\U000e0067", "visible"),  # a variation selector and a tag
        ("x\u202ay", "bidi"),
        ("x\u202dy", "bidi"),
        ("x\u2066y", "bidi"),
        ("x\u2068y", "bidi"),
        ("x\u2069y", "bidi"),
        ("x\u200ey", "bidi"),
        ("x\u200fy", "bidi"),
        ("x\u061cy", "bidi"),
        ("a\x00b", "control"),
        ("a\x1fb", "control"),
        ("a\x7fb", "control"),
        ("a\x85b", "control"),
        ("a\x9fb", "control"),
        ("a\tb", "control"),
        ("a\nb", "control"),
        ("a\u2028b", "line"),
        ("a\u2029b", "line"),
        ("a\ud800b", "surrogate"),
        ("x" * (NAME_MAX_CHARS + 1), "1 to 32"),
        ("", "1 to 32"),
        (5, "string"),
        (None, "string"),
    ],
)
def test_names_that_hide_or_reorder_are_refused_with_a_reason(name, why):
    """Each refusal says which rule the name broke (and which code point, where there is one)."""
    assert why in refusal(name)


def test_the_refusal_names_the_code_point():
    """So a visitor can tell what was wrong with a name they pasted."""
    assert "U+009B" in refusal("a\u009bb")
    assert "U+202E" in refusal("\u202eevil")


@pytest.mark.parametrize(
    "name",
    [
        "Ada",
        "José Ñúñez",
        "Zoë",
        "Ærøskøbing",
        "Łukasz",
        "Ἀθηνᾶ",
        "Иван",
        "محمد",  # right-to-left letters are fine: only the invisible controls are refused
        "שלום",
        "李小龍",
        "ひらがな",
        "한국어",
        "नमस्ते",  # Devanagari, with combining signs
        "ประเทศไทย",
        "e\u0301",  # a combining accent after its letter
        "e\u0302\u0301",  # Vietnamese: two marks on a letter
        "בְּרֵאשִׁ֖ית",  # Hebrew with points and a cantillation mark
        "😀",
        "👩\u200d💻",  # a ZWJ sequence: woman technologist
        "👨\u200d👩\u200d👧\u200d👦",
        "🇫🇷🇯🇵",  # flags: regional indicators
        "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland: tag sequence
        "❤\ufe0f",  # a variation selector
        "👍🏽",  # a skin tone modifier
        "\U0001fae8",  # shaking face: newer than some Unicode tables, still a name
        "guest-3fa1",
        "a b",
        "<script>alert(1)</script>",
        "😀" * NAME_MAX_CHARS,
    ],
)
def test_ordinary_names_in_any_script_with_accents_or_emoji_are_accepted(name):
    """The rule refuses what hides or reorders, not what people are called."""
    assert clean_name(name) == name


def test_a_name_is_trimmed_first_and_counted_in_code_points():
    """32 emoji (64 UTF-16 units) fit; surrounding white space of every kind is not counted."""
    assert clean_name("\u3000\ufeff " + "👩" * 32 + "\u00a0\n") == "👩" * 32


def test_the_board_rename_and_the_chat_text_use_the_rules():
    """The parser of each endpoint applies the one definition."""
    with pytest.raises(ProtocolError):
        parse_client_frame(json.dumps({"type": "rename", "name": "\u202eevil"}), PUBLIC_ENDPOINT, 4096)
    with pytest.raises(ProtocolError):
        parse_client_frame(json.dumps({"type": "message", "text": "a\u0085b"}), CHAT_ENDPOINT, 4096)


# ---------------------------------------------------------------- chat text


@pytest.mark.parametrize("text", ["a\u0085b", "a\rb", "a\x00", "a\x1bb", "a\x7f", "a\x9bb", "a\ud800"])
def test_chat_text_with_a_control_character_but_newline_and_tab_is_refused(text):
    """Issue 9: chat stored text containing U+0085 (NEL)."""
    with pytest.raises(ProtocolError) as caught:
        clean_chat_text(text)
    assert caught.value.code == "bad_message"


@pytest.mark.parametrize("text", ["line one\nline two", "a\tb", "مرحبا hello", "👩\u200d💻 works", "x" * 2000])
def test_chat_text_keeps_line_breaks_tabs_and_any_script(text):
    """Multi-line messages, tabs, right-to-left text and emoji are ordinary text."""
    assert clean_chat_text(text) == text


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize(
    "other",
    [
        "Alice",
        "alice",
        "ALICE",
        "\uff21\uff2c\uff29\uff23\uff25",
        "Ali\u200bce",
        "ali\ufff0ce",  # default-ignorable, unassigned: drawn as nothing
        "al\u2065ice",
        "\u00a0Alice ",
        "ALİCE".replace("İ", "I"),
    ],
)
def test_names_a_reader_cannot_tell_apart_share_a_key(other):
    """Case and compatibility forms (full-width letters) and invisible characters do not count."""
    assert name_key(other) == name_key("alice")


@pytest.mark.parametrize("other", ["alice2", "alíce", "al ice", "bob"])
def test_names_a_reader_tells_apart_have_different_keys(other):
    """Accents, digits and spaces are part of a name."""
    assert name_key(other) != name_key("alice")


def test_keys_fold_ligatures_and_sharp_s():
    """Compatibility forms and full case folding: ﬁ is fi, ß is ss."""
    assert name_key("\ufb01sh") == name_key("FISH")
    assert name_key("Straße") == name_key("STRASSE")


# ---------------------------------------------------------------- trimming, the same in the page


def test_trimming_cuts_exactly_what_javascript_trim_cuts_over_the_whole_bmp():
    """The pages count after `value.trim()`; the server after `trim`: for every BMP code point,
    both agree whether it is cut. (Needs node, as tests/unit/test_stats_js.py.)"""
    js_cut = run_node(
        "const cut = [];"
        "for (let c = 0; c <= 0xffff; c++) { if (String.fromCharCode(c).trim() === '') cut.push(c); }"
        "console.log(JSON.stringify(cut));"
    )
    python_cut = [c for c in range(0x10000) if trim(chr(c)) == ""]
    assert python_cut == js_cut
    assert sorted(map(ord, TRIMMED)) == js_cut


def test_trimming_keeps_controls_python_strip_would_cut():
    """str.strip() would cut U+001C-U+001F and U+0085 from the ends; the rules refuse them instead."""
    assert trim("\x1cAda\x85") == "\x1cAda\x85"
    with pytest.raises(ProtocolError):
        clean_name("\x85Ada")
    assert sys.maxunicode > 0xFFFF  # code points, not UTF-16 units, are what is counted


def test_chat_text_refuses_exactly_the_control_characters_but_lf_and_tab_over_all_code_points():
    """The fast scan matches the rule's definition (categories Cc and Cs, less LF and tab)."""
    import unicodedata

    refused = []
    for code in range(0x110000):
        try:
            clean_chat_text(f"a{chr(code)}b")
        except ProtocolError:
            refused.append(code)
    expected = [c for c in range(0x110000) if unicodedata.category(chr(c)) in {"Cc", "Cs"} and chr(c) not in "\n\t"]
    assert refused == expected
