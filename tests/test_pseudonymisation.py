"""Keys and tokens: real HKDF and HMAC from `cryptography`, checked against the standard library."""

import hashlib
import hmac
import os

import pytest

from pseudonymisation.keys import (
    Keyring,
    MissingKeyError,
    load_keyring,
    secret_in_a_pipe,
)
from pseudonymisation.tokens import Tokeniser, tokenisers

SECRET = "0123456789abcdef" * 4


def test_no_key_refuses_with_an_actionable_message():
    with pytest.raises(MissingKeyError, match="MASIP_SECRET_FILE"):
        load_keyring({})


def test_short_secret_is_refused():
    with pytest.raises(MissingKeyError, match="too short"):
        load_keyring({"MASIP_SECRET": "short"})


def test_missing_key_file_is_refused(tmp_path):
    with pytest.raises(MissingKeyError, match="does not exist"):
        load_keyring({"MASIP_SECRET_FILE": str(tmp_path / "nope.key")})


def test_key_file_and_env_give_the_same_keyring(tmp_path):
    key_file = tmp_path / "partnership.key"
    key_file.write_text(SECRET + "\n")
    from_file = load_keyring({"MASIP_SECRET_FILE": str(key_file)})
    from_env = load_keyring({"MASIP_SECRET": SECRET})
    assert from_file.key_version == from_env.key_version
    assert from_file.purpose_key("token/pnc") == from_env.purpose_key("token/pnc")


def test_the_secret_moved_to_a_pipe_gives_the_same_keyring_once():
    """`masip` moves MASIP_SECRET out of its environment block into a pipe (masip.cli.entry); read, it is gone."""
    pipe = secret_in_a_pipe(SECRET)
    assert load_keyring({"MASIP_SECRET_FD": str(pipe)}).key_version == Keyring(SECRET.encode()).key_version
    for stale in (str(pipe), "999", "not-a-number"):
        with pytest.raises(MissingKeyError, match="names no open file descriptor holding the partnership secret") as refused:
            load_keyring({"MASIP_SECRET_FD": stale})
        assert "MASIP_SECRET_FILE" in str(refused.value)


@pytest.mark.parametrize("mode, warned", [(0o600, False), (0o400, False), (0o640, True), (0o644, True), (0o606, True)])
def test_a_key_file_others_can_read_is_loaded_with_a_warning_that_says_what_to_do(tmp_path, caplog, mode, warned):
    key_file = tmp_path / "partnership.key"
    key_file.write_text(SECRET + "\n")
    key_file.chmod(mode)
    with caplog.at_level("WARNING", logger="pseudonymisation.keys"):
        keyring = load_keyring({"MASIP_SECRET_FILE": str(key_file)})
    assert keyring.key_version == Keyring(SECRET.encode()).key_version
    said = " ".join(record.getMessage() for record in caplog.records)
    assert (f"chmod 600 {key_file}" in said) is warned and (f"mode {mode:04o}" in said) is warned
    assert SECRET not in said


def test_a_key_file_that_is_a_folder_is_called_a_folder(tmp_path):
    with pytest.raises(MissingKeyError, match="which is a folder"):
        load_keyring({"MASIP_SECRET_FILE": str(tmp_path)})


def test_two_different_secrets_are_refused_never_one_chosen(tmp_path):
    key_file = tmp_path / "partnership.key"
    key_file.write_text(SECRET + "\n")
    other = "fedcba9876543210" * 4
    with pytest.raises(MissingKeyError, match="different secrets") as refused:
        load_keyring({"MASIP_SECRET_FILE": str(key_file), "MASIP_SECRET": other})
    assert SECRET not in str(refused.value) and other not in str(refused.value)
    same = load_keyring({"MASIP_SECRET_FILE": str(key_file), "MASIP_SECRET": SECRET})
    assert same.key_version == Keyring(SECRET.encode()).key_version


def test_secret_never_appears_in_repr_or_str():
    keyring = Keyring(SECRET.encode())
    tokeniser = Tokeniser(keyring, "pnc")
    for text in (repr(keyring), str(keyring), repr(tokeniser)):
        assert SECRET not in text
        assert keyring.purpose_key("token/pnc").hex() not in text


@pytest.mark.parametrize("around", [" ", "\n", "\r\n", "\t", " \n\n"])
def test_the_same_secret_gives_the_same_key_however_it_was_pasted(tmp_path, around):
    """In a file, in the environment, or both: spaces and line ends around the secret are not part of it. The
    environment's copy used to keep them, so a trailing newline there made another key (outside audit 5)."""
    key_file = tmp_path / "partnership.key"
    key_file.write_text(around + SECRET + around)
    expected = Keyring(SECRET.encode()).key_version
    assert load_keyring({"MASIP_SECRET": around + SECRET + around}).key_version == expected
    assert load_keyring({"MASIP_SECRET_FILE": str(key_file)}).key_version == expected
    both = {"MASIP_SECRET_FILE": str(key_file), "MASIP_SECRET": SECRET + around}
    assert load_keyring(both).key_version == expected


@pytest.mark.parametrize("placeholder", ["a" * 32, "changeme" * 4, "password" * 5, "0123456789" * 4, "ab" * 40])
def test_a_placeholder_secret_is_refused_without_being_shown(placeholder):
    with pytest.raises(MissingKeyError, match="placeholder") as refused:
        load_keyring({"MASIP_SECRET": placeholder})
    assert placeholder[:8] not in str(refused.value)


def test_a_key_file_that_is_not_a_regular_file_is_refused_as_such(tmp_path):
    pipe = tmp_path / "partnership.key"
    os.mkfifo(pipe)
    with pytest.raises(MissingKeyError, match="not a regular file") as refused:
        load_keyring({"MASIP_SECRET_FILE": str(pipe)})
    assert "does not exist" not in str(refused.value)


def test_purposes_get_different_keys_and_tokens():
    keyring = Keyring(SECRET.encode())
    toks = tokenisers(keyring)
    values = {purpose: tok.token("SAME VALUE") for purpose, tok in toks.items()}
    assert len(set(values.values())) == len(values)


@pytest.mark.parametrize("value", ["2016/6605185R", "1961-07-29", "SK11 6AA", "É", "x" * 300])
def test_token_is_the_first_64_bits_of_hmac_sha256_under_the_purpose_key(value):
    """The signed big-endian integer of the digest's first 8 bytes: the form the vault stores and the linkage
    compares, made straight from the digest (a column of many values takes the same path)."""
    keyring = Keyring(SECRET.encode())
    digest = hmac.new(keyring.purpose_key("token/pnc"), value.encode(), hashlib.sha256).digest()
    expected = int.from_bytes(digest[:8], "big", signed=True)
    tokeniser = Tokeniser(keyring, "pnc")
    assert tokeniser.token(value) == expected
    assert tokeniser.token_column([None, value, "other", value]).to_pylist()[1::2] == [expected, expected]


def test_different_secret_changes_tokens_and_key_version():
    a, b = Keyring(SECRET.encode()), Keyring(SECRET[::-1].encode())
    assert a.key_version != b.key_version
    assert Tokeniser(a, "pnc").token("X") != Tokeniser(b, "pnc").token("X")


def test_token_of_missing_value_is_missing():
    assert Tokeniser(Keyring(SECRET.encode()), "dob").token(None) is None
