from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalade.domain.redaction import Redacted, Removal, Sensitivity, redact

BOTH = ("personal_data", "secrets")

PERSONAL = {
    "ada.lovelace+ops@example.co.uk": "email",
    "+44 20 7946 0958": "phone",
    "+4915112345678": "phone",
    "030 1234-5678": "phone",
    "(555) 123-4567": "phone",
    "4111 1111 1111 1111": "card_number",
    "5500-0000-0000-0004": "card_number",
    "DE89 3704 0044 0532 0130 00": "iban",
    "GB82WEST12345698765432": "iban",
    "12345678": "account_number",
    "203.0.113.42": "ip_address",
    "Ada Lovelace": "name",
}
SECRETS = {
    "sk-proj-Ab3dEfGh1jKlMnOpQr5t": "api_key",
    "sk_live_51HxYzAbCdEf0123456789": "api_key",
    "ghp_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0dF3gH6": "api_key",
    "xoxb-1234567890-0987654321-AbCdEfGhIjKl": "api_key",
    "esk_Zx9-Qw8_Er7Ty6Ui5Op4As3Df2Gh1Jk0LzXcVbNm1234": "api_key",
    "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW": "api_key",
    "AKIAIOSFODNN7EXAMPL3": "aws_key",
    "abc123def456ghi789": "bearer_token",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dGhpcyBpcyBub3Q": "jwt",
    "hunter2!": "password_assignment",
    "p4ss w0rd": "password_assignment",
}
PEM = (
    "-----BEGIN RSA PRIVATE\nKEY-----\nMIIEowIBAAKCAQEA7v\nq9Zk2Lw==\n-----END RSA PRIVATE KEY-----"
)

INCIDENT = f"""\
INC-2026-0042 opened 2026-11-23 10:15:00 UTC, model v7.3.1, PSI 0.42 (order 1002-3341).
Affected customer {"Ada Lovelace"} <{"ada.lovelace+ops@example.co.uk"}> called from
{"+44 20 7946 0958"}, later {"+4915112345678"}, office {"030 1234-5678"}, US {"(555) 123-4567"}.
The model echoed card {"4111 1111 1111 1111"} and {"5500-0000-0000-0004"}, IBAN
{"DE89 3704 0044 0532 0130 00"} EUR and {"GB82WEST12345698765432"}, Konto Nr. {"12345678"},
from host {"203.0.113.42"}.
Leaked config: OPENAI_KEY={"sk-proj-Ab3dEfGh1jKlMnOpQr5t"}
stripe {"sk_live_51HxYzAbCdEf0123456789"} github {"ghp_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0dF3gH6"}
slack {"xoxb-1234567890-0987654321-AbCdEfGhIjKl"}
escalade {"esk_Zx9-Qw8_Er7Ty6Ui5Op4As3Df2Gh1Jk0LzXcVbNm1234"}
google {"AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"}
aws {"AKIAIOSFODNN7EXAMPL3"}; Authorization: Bearer {"abc123def456ghi789"}
session {"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dGhpcyBpcyBub3Q"}
db_password={"hunter2!"} "secret": "{"p4ss w0rd"}"
{PEM}
"""


def _removed(result: Redacted, original: str) -> dict[str, str]:
    return {original[r.start : r.end]: r.kind for r in result.removals}


def test_every_planted_value_disappears_with_the_right_kind() -> None:
    result = redact(INCIDENT, BOTH, names=["Ada Lovelace"])

    for planted in [*PERSONAL, *SECRETS, PEM]:
        assert planted not in result.text
    removed = _removed(result, INCIDENT)
    assert removed == {**PERSONAL, **SECRETS, PEM: "private_key"}
    assert result.summary() == {
        "account_number": 1,
        "api_key": 6,
        "aws_key": 1,
        "bearer_token": 1,
        "card_number": 2,
        "email": 1,
        "iban": 2,
        "ip_address": 1,
        "jwt": 1,
        "name": 1,
        "password_assignment": 2,
        "phone": 4,
        "private_key": 1,
    }


def test_false_positives_survive() -> None:
    result = redact(INCIDENT, BOTH, names=["Ada Lovelace"])

    for innocent in ["INC-2026-0042", "2026-11-23 10:15:00", "v7.3.1", "PSI 0.42", "1002-3341"]:
        assert innocent in result.text
    assert "Authorization: Bearer [secret removed]" in result.text
    assert "db_password=[secret removed]" in result.text


@pytest.mark.parametrize(
    "text",
    [
        "Deployed 2026-11-23 at 10:15:00, rollback 23.11.2026 and 01/02/2026.",
        "Model 7.3.1 drifted: PSI 0.42, KS 0.137, p99 1200 ms, 4096 max_tokens=4096.",
        "Reference 123456789012 and 4111 1111 1111 1112 are not cards.",
        "Order 48213, order #1002-3341, ticket 00012345, batch 2026112301.",
        "The sk-hynix-memory-module and risk-assessment-framework are fine.",
        "Bearer authentication failed; the token was revoked; see RFC 6750.",
        "Ratio 1.2.3 and build 10.0.3; 3 accounts affected, account 1234.",
        "DE12 is not an IBAN, nor is GB00WEST12345698765432.",
    ],
)
def test_innocent_text_is_left_alone(text: str) -> None:
    result = redact(text, BOTH, names=["Ada"])

    assert result.text == text
    assert result.removals == ()


def test_only_requested_classes_are_removed() -> None:
    text = "Mail ada@example.com, key sk_live_51HxYzAbCdEf0123456789, Ada called."

    secrets_only = redact(text, ["secrets"], names=["Ada"])
    personal_only = redact(text, [Sensitivity.PERSONAL_DATA], names=["Ada"])

    assert secrets_only.text == "Mail ada@example.com, key [secret removed], Ada called."
    assert personal_only.text == (
        "Mail [email removed], key sk_live_51HxYzAbCdEf0123456789, [name removed] called."
    )
    assert redact(text, []).text == text


def test_removals_point_into_the_original_text_in_order() -> None:
    text = "From bob@example.com to 10.1.2.3: password: s3cret"

    result = redact(text, BOTH)

    assert result.removals == (
        Removal(Sensitivity.PERSONAL_DATA, "email", 5, 20, "[email removed]"),
        Removal(Sensitivity.PERSONAL_DATA, "ip_address", 24, 32, "[IP address removed]"),
        Removal(Sensitivity.SECRETS, "password_assignment", 44, 50, "[secret removed]"),
    )
    assert result.text == "From [email removed] to [IP address removed]: password: [secret removed]"


def test_names_are_whole_words_case_insensitive_longest_first() -> None:
    text = "ADA LOVELACE wrote to Ada; Adam and lovelace-fans were cc'd; Ada\nLovelace again."

    result = redact(text, ["personal_data"], names=["Ada", "Ada Lovelace", " "])

    assert result.text == (
        "[name removed] wrote to [name removed]; Adam and lovelace-fans were cc'd; "
        "[name removed] again."
    )
    assert [text[r.start : r.end] for r in result.removals] == [
        "ADA LOVELACE",
        "Ada",
        "Ada\nLovelace",
    ]


def test_overlapping_matches_merge_under_the_longest() -> None:
    # The assignment value and the key overlap; nothing of either may survive.
    text = "token=sk-proj-Ab3dEfGh1jKlMnOpQr5t,next"

    result = redact(text, ["secrets"])

    assert result.text == "token=[secret removed],next"
    assert len(result.removals) == 1


def test_unterminated_private_key_is_removed_to_the_end() -> None:
    text = "log:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAA"

    result = redact(text, ["secrets"])

    assert result.text == "log:\n[secret removed]"
    assert result.summary() == {"private_key": 1}


def test_card_is_found_inside_a_run_of_numbers() -> None:
    text = "card 12 4111-1111-1111-1111 2026-11-23"

    result = redact(text, ["personal_data"])

    assert result.text == "card 12 [card number removed] 2026-11-23"


def test_unknown_class_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"'secret'.*did you mean 'secrets'.*personal_data"):
        redact("x", ["secret"])


_WORD = st.text(alphabet=string.ascii_letters + string.digits + " .,:;-/\n", max_size=15)
_EMAIL = st.builds(
    "{}@{}.{}".format,
    st.text(string.ascii_lowercase + string.digits + "._+", min_size=1, max_size=12),
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12),
    st.text(string.ascii_lowercase, min_size=2, max_size=6),
)
_KEY = st.one_of(
    st.builds(
        "{}{}{}".format,
        st.sampled_from(["sk-", "sk_live_", "ghp_", "github_pat_", "xoxb-", "esk_"]),
        st.text(string.ascii_letters + string.digits, min_size=20, max_size=40),
        st.integers(0, 9),
    ),
    st.builds(
        "AKIA{}".format, st.text(string.ascii_uppercase + string.digits, min_size=16, max_size=16)
    ),
)


@given(words=st.lists(_WORD, max_size=12), email=_EMAIL, key=_KEY, data=st.data())
def test_planted_email_and_key_never_survive(
    words: list[str], email: str, key: str, data: st.DataObject
) -> None:
    for planted in (email, key):
        words.insert(data.draw(st.integers(0, len(words))), planted)
    text = " ".join(words)

    result = redact(text, BOTH)

    assert email not in result.text
    assert key not in result.text
