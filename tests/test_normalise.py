"""Normalisers: examples from the sample drops plus property-based checks."""

import string
import unicodedata
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.normalise import (
    clean_cell,
    date_parser,
    datetime_parser,
    normalise_code,
    normalise_crn,
    normalise_name,
    normalise_nhs_number,
    normalise_pnc,
    normalise_postcode,
    pnc_check_letter,
    postcode_district,
)


def test_missing_markers():
    for blank in ("", "  ", "NULL", "null", "N/A", " n/a "):
        assert clean_cell(blank) is None
    assert clean_cell(" Bob ") == "Bob"


def test_names_fold_accents_apostrophes_and_case():
    assert normalise_name("D’Souza") == normalise_name("d'souza") == "DSOUZA"
    assert normalise_name("Siobhán") == "SIOBHAN"
    assert normalise_name("Pádraig") == "PADRAIG"
    assert normalise_name("Smith-Jones") == "SMITHJONES"
    assert normalise_name("’-") is None


#: Every letter of the Latin alphabets Europe writes names in (Latin-1 Supplement, Latin Extended-A, Latin
#: Extended Additional): none may vanish from a name, as Ł, Ø, Æ, Đ and Þ did when only accents were folded.
EUROPEAN_LATIN_LETTERS = [
    chr(cp) for cp in (*range(0x00C0, 0x0180), *range(0x1E00, 0x1EFA)) if unicodedata.category(chr(cp)).startswith("L")
]


@pytest.mark.parametrize("letter", EUROPEAN_LATIN_LETTERS, ids=lambda c: f"U+{ord(c):04X}")
def test_no_latin_letter_is_dropped_from_a_name(letter):
    spelled = normalise_name(f"A{letter}B")
    assert spelled is not None and len(spelled) >= 3 and spelled[0] + spelled[-1] == "AB"


@pytest.mark.parametrize(
    ("written", "plain"),
    [("Michał", "Michal"), ("Łukasz", "Lukasz"), ("Søren", "Soren"), ("Æthelred", "Aethelred"), ("Đurić", "Duric"),
     ("Þórdís", "Thordis"), ("Straße", "Strasse"), ("Zoë", "Zoe"), ("Иван Петров", "Ivan Petrov"), ("Γιώργος", "Giorgos"),
     # look-alikes of another script inside a Latin word are read as the Latin letters they copy; a word in one
     # script, or with a letter that copies none (Mария's и), is transliterated as before
     ("Сhristopher", "Christopher"), ("МАRТІN", "Martin"), ("Nоёl", "Noël"), ("Anna Мария", "Anna Mariia"),
     ("Mария", "Mariia")],
)
def test_a_name_in_any_alphabet_meets_its_plain_latin_spelling(written, plain):
    assert normalise_name(written) == normalise_name(plain)


def test_every_compatibility_form_of_a_latin_letter_is_read_as_that_letter():
    """Mathematical alphanumerics (a name pasted from a styled document), fullwidth, circled and superscript
    letters: the transliteration alone dropped most of them (outside audit 4, D6)."""
    forms = [chr(cp) for cp in range(0x80, 0x20000)
             if len(plain := unicodedata.normalize("NFKC", chr(cp))) == 1 and plain.isascii() and plain.isalpha()]
    assert len(forms) > 800
    wrong = [f"U+{ord(c):04X}" for c in forms
             if normalise_name(f"A{c}B") != "A" + unicodedata.normalize("NFKC", c).upper() + "B"]
    assert wrong == []


def _lookalikes(letter: str) -> list[str]:
    """Letters of other scripts that Unicode's confusables (UTS #39) draw like ``letter``."""
    from confusable_homoglyphs import categories, confusables

    return [
        glyph["c"] for glyph in confusables.confusables_data.get(letter, ())
        if len(glyph["c"]) == 1 and glyph["c"].isalpha() and categories.alias(glyph["c"]) not in ("LATIN", "COMMON")
    ]


def _drawn_alike(letter: str) -> set[str]:
    """``letter`` and the ASCII letters of its confusables class (``I`` and ``l`` are one class)."""
    from confusable_homoglyphs import confusables

    return {letter} | {g["c"] for g in confusables.confusables_data.get(letter, ()) if g["c"] in string.ascii_letters}


#: (Latin letter, a look-alike of another script): Cyrillic, Greek, Armenian, Cherokee, Coptic, Lisu…
LOOKALIKES = [(letter, alike) for letter in string.ascii_letters for alike in _lookalikes(letter)]


def test_every_lookalike_of_another_script_in_a_latin_name_is_read_as_the_letter_it_copies():
    """A Cyrillic С typed or pasted into Сhristopher was transliterated by its sound (SHRISTOPHER) and the record
    never met Christopher's (outside audit 4, D6)."""
    assert len(LOOKALIKES) > 250
    wrong = [f"U+{ord(alike):04X} for {letter}" for letter, alike in LOOKALIKES
             if normalise_name(f"Ma{alike}ton") not in {normalise_name(f"Ma{plain}ton") for plain in _drawn_alike(letter)}]
    assert wrong == []


def test_every_lookalike_of_a_latin_letter_in_an_identifier_is_read_as_that_letter():
    """Identifiers are written in Latin letters and digits, so a look-alike counts even alone between digits."""
    wrong = [f"U+{ord(alike):04X} for {letter}" for letter, alike in LOOKALIKES
             if normalise_crn(f"{alike}123456") not in {f"{plain.upper()}123456" for plain in _drawn_alike(letter)}]
    assert wrong == []
    assert normalise_postcode("SК8 9DQ") == normalise_postcode("ＳＫ８ ９ＤＱ") == "SK8 9DQ"  # Cyrillic К; fullwidth
    assert normalise_pnc("2016/6605185Ꭱ") == "2016/6605185R"  # Cherokee Ꭱ
    assert normalise_nhs_number("４０１０２３２１３７") == "4010232137"


#: Every kind of space an export may write between the parts of an identifier (Unicode category Zs, and a tab).
UNICODE_SPACES = ["\t", *(chr(cp) for cp in range(0x10000) if unicodedata.category(chr(cp)) == "Zs")]


@pytest.mark.parametrize("space", UNICODE_SPACES, ids=lambda c: f"U+{ord(c):04X}")
def test_identifiers_read_through_any_kind_of_space(space):
    assert normalise_postcode(f"SK8{space}9DQ") == "SK8 9DQ"
    assert normalise_nhs_number(f"401{space}023{space}2137") == "4010232137"
    assert normalise_pnc(f"2016/{space}6605185R") == normalise_pnc("2016/6605185R") is not None
    assert normalise_crn(f"X{space}123456") == "X123456"


def test_postcodes():
    assert normalise_postcode("sk89dq") == "SK8 9DQ"
    assert normalise_postcode(" SE22  9WU ".strip()) == "SE22 9WU"
    assert normalise_postcode("NOT A POSTCODE") is None
    assert postcode_district("SK8 9DQ") == "SK8"


def test_pnc_check_letter_validates():
    assert normalise_pnc("2016/6605185R") == "2016/6605185R"
    assert normalise_pnc("2016/6605185S") is None  # wrong check letter
    assert normalise_pnc("16/6605185R") == "16/6605185R"
    assert normalise_pnc("rubbish") is None


def test_nhs_mod11():
    assert normalise_nhs_number("503 536 1284") == "5035361284"
    assert normalise_nhs_number("5035361285") is None
    assert normalise_nhs_number("12345") is None


def test_dates_and_datetimes():
    assert date_parser("%d/%m/%Y")("16/12/2003") == date(2003, 12, 16)
    assert date_parser("%d/%m/%Y")("31/02/2026") is None
    assert date_parser("%Y-%m-%d")("2026-02-30") is None
    parse = datetime_parser("%Y-%m-%d")
    assert parse("2026-08-18T11:17:00") == datetime(2026, 8, 18, 11, 17)
    assert parse("2025-11-25 05:18") == datetime(2025, 11, 25, 5, 18)
    assert parse("2025-11-25") == datetime(2025, 11, 25)
    assert parse("2025-11-25 25:99") is None


def test_dates_with_a_month_name_read_in_english_in_any_case_whatever_the_locale():
    abbreviated, full = date_parser("%d-%b-%Y"), date_parser("%B.%d.%Y")
    assert [abbreviated(v) for v in ("09-Oct-2025", "9-OCT-2025", "30-sept-2025", "30-Sep-2025")] == [
        date(2025, 10, 9), date(2025, 10, 9), date(2025, 9, 30), date(2025, 9, 30)]
    assert full("October.09.2025") == date(2025, 10, 9) and full("AUGUST.1.1961") == date(1961, 8, 1)
    unread = [abbreviated(v) for v in ("09-October-2025", "09-Okt-2025", "31-Feb-2025", "09-10-2025", "09-Oct-25")]
    assert unread == [None] * 5 and full("Oct.09.2025") is None
    assert date_parser("%d%b%Y")("29JUL1961") == date(1961, 7, 29)
    parse = datetime_parser("%d-%b-%Y")
    assert parse("09-OCT-2025T14:05") == datetime(2025, 10, 9, 14, 5)
    assert parse("09-Aug-2025  14:05") == datetime(2025, 8, 9, 14, 5)
    assert parse("30-AUGUST-2025") is None
    assert datetime_parser("%d%b%Y")("29OCT1961T10:00:05") == datetime(1961, 10, 29, 10, 0, 5)


names = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "Zs", "Pd", "Po")), min_size=1, max_size=30)


@given(names)
def test_name_normalisation_is_idempotent_and_ascii_upper(value):
    once = normalise_name(value)
    if once is not None:
        assert once.isascii() and once.isalpha() and once.isupper()
        assert normalise_name(once) == once


@given(st.text(alphabet=string.ascii_letters + " '-’", min_size=1, max_size=30))
def test_name_normalisation_ignores_case_padding_and_punctuation(value):
    assert normalise_name(value) == normalise_name(f"  {value.upper()} ") == normalise_name(value.lower())


@given(st.integers(min_value=0, max_value=99), st.integers(min_value=0, max_value=9_999_999))
def test_every_valid_pnc_round_trips(year, serial):
    yyyy = f"{2000 + year}"
    text = f"{yyyy}/{serial}{pnc_check_letter(yyyy, str(serial))}"
    normalised = normalise_pnc(text.lower())
    assert normalised == f"{yyyy}/{serial:07d}{text[-1]}"
    assert normalise_pnc(normalised) == normalised


@given(st.lists(st.integers(min_value=0, max_value=9), min_size=9, max_size=9))
def test_nhs_numbers_with_a_computed_check_digit_are_valid_and_one_digit_change_is_not(digits):
    total = sum(d * w for d, w in zip(digits, range(10, 1, -1)))
    check = (11 - total % 11) % 11
    number = "".join(map(str, digits)) + str(check % 10)
    if check == 10:
        assert normalise_nhs_number(number) is None
        return
    assert normalise_nhs_number(number) == number
    altered = str((int(number[0]) + 1) % 10) + number[1:]
    assert normalise_nhs_number(altered) is None


@given(st.sampled_from(["SK8 9DQ", "W14 4SL", "SE22 9WU", "GU16 2UF", "EC1A 1BB"]), st.booleans(), st.integers(0, 3))
def test_postcode_spacing_and_case_do_not_matter(postcode, lower, extra_spaces):
    variant = postcode.replace(" ", " " * extra_spaces)
    variant = variant.lower() if lower else variant
    assert normalise_postcode(variant) == postcode


@given(st.sampled_from(["ex_partner", " EX_PARTNER ", "Ex_Partner"]))
def test_codes_are_case_and_space_insensitive(code):
    assert normalise_code(code) == "EX_PARTNER"
