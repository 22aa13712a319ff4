"""Removing personal data and secrets from messages before they leave the building.

Templates for external audiences name the classes to strip
(``redact: [personal_data, secrets]``). :func:`redact` replaces every match with a
visible placeholder and records what it took out, so the approver sees both the text
that will be sent and what was removed from it.

Detection errs towards removing too much: a phone number that swallows the year after
it costs a word of readability, a key left half in place costs an incident of its own.
For the same reason overlapping matches merge into one removal that covers all of
them, named after the longest, so no fragment of any match survives.

This module does no I/O.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Redacted", "Removal", "Sensitivity", "redact"]


class Sensitivity(StrEnum):
    """A class of content a template can ask to have removed."""

    PERSONAL_DATA = "personal_data"
    SECRETS = "secrets"


@dataclass(frozen=True, slots=True)
class Removal:
    """One span of the original text (``text[start:end]``) and what replaced it."""

    sensitivity: Sensitivity
    kind: str
    start: int
    end: int
    replacement: str


@dataclass(frozen=True, slots=True)
class Redacted:
    """The text as it will be sent, and every removal, in order of position."""

    text: str
    removals: tuple[Removal, ...]

    def summary(self) -> dict[str, int]:
        """How many of each kind were removed, for the approver (sorted by kind)."""
        return dict(sorted(Counter(removal.kind for removal in self.removals).items()))


_Span = tuple[int, int, str]  # start, end, kind
_Detector = Callable[[str], Iterator[_Span]]

_REPLACEMENTS = {
    "email": "[email removed]",
    "phone": "[phone number removed]",
    "card_number": "[card number removed]",
    "iban": "[IBAN removed]",
    "account_number": "[account number removed]",
    "ip_address": "[IP address removed]",
    "name": "[name removed]",
}
_REMOVED_CREDENTIAL = "[secret removed]"


def _pattern(
    kind: str, regex: re.Pattern[str], accept: Callable[[str], bool] | None = None
) -> _Detector:
    """Detect ``regex``; when it has named groups, only the one that matched is removed.

    That is how assignments and bearer tokens keep their label (``password=``) and lose
    only the value.
    """

    def detect(text: str) -> Iterator[_Span]:
        for match in regex.finditer(text):
            start, end = match.span(match.lastgroup) if match.lastgroup else match.span()
            if end > start and (accept is None or accept(text[start:end])):
                yield start, end, kind

    return detect


_TOKEN = re.compile(r"[A-Za-z0-9]+", re.ASCII)


def _windows(
    kind: str, run: re.Pattern[str], valid: Callable[[str], bool], longest: int
) -> _Detector:
    """Detect checksummed numbers inside runs of separated groups of characters.

    A run such as ``4111 1111 1111 1111 2026-11-23`` holds a card number followed by a
    date; the longest run of whole groups that passes the checksum is the match, so a
    neighbour neither hides the number nor gets half of it removed.
    """

    def detect(text: str) -> Iterator[_Span]:
        for found in run.finditer(text):
            tokens = list(_TOKEN.finditer(text, found.start(), found.end()))
            i = 0
            while i < len(tokens):
                compact = ""
                candidates: list[tuple[int, str]] = []
                for j in range(i, len(tokens)):
                    compact += tokens[j].group()
                    if len(compact) > longest:
                        break
                    candidates.append((j, compact))
                for j, candidate in reversed(candidates):
                    if valid(candidate):
                        yield tokens[i].start(), tokens[j].end(), kind
                        i = j
                        break
                i += 1

    return detect


def _luhn(digits: str) -> bool:
    if not (13 <= len(digits) <= 19 and digits.isdigit()):
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", re.ASCII)


def _mod97(iban: str) -> bool:
    if not _IBAN_SHAPE.fullmatch(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


_DATE = re.compile(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}", re.ASCII)


def _phone_like(text: str) -> bool:
    digits = sum(char.isdigit() for char in text)
    return digits >= 7 and not text.isdigit() and not _DATE.fullmatch(text)


def _random_looking(token: str) -> bool:
    # Real keys are random; a digit or sheer length tells them from "sk-hynix-memory".
    return any(char.isdigit() for char in token) or len(token) >= 32


_A = re.ASCII
_AI = re.ASCII | re.IGNORECASE
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# Numbers glued to these belong to something else: dates, versions, times, paths, ids.
_NOT_AFTER = r"(?<![\w+.:/-])"
_NOT_BEFORE = r"(?![\w-]|[.:]\d)"
_KEY_PREFIXES = (
    r"sk-|sk_live_|sk_test_|rk_live_|pk_live_|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_"
    r"|xox[abpr]-|esk_|AIza"
)
_CREDENTIAL_LABELS = (
    r"password|passwd|pwd|passphrase|secret|client[_-]?secret|secret[_-]?key|token"
    r"|api[_-]?key|apikey|access[_-]?key|private[_-]?key|auth"
)

_PERSONAL: tuple[_Detector, ...] = (
    _pattern(
        "email",
        re.compile(r"(?<![\w.%+-])[\w.%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}", _A),
    ),
    _pattern(
        "phone",
        re.compile(r"(?<![\w+])\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}+\)?){2,6}(?!\w)", _A),
        _phone_like,
    ),
    _pattern(
        "phone",
        re.compile(
            rf"{_NOT_AFTER}(?:\(0\d{{1,4}}\)|0\d{{1,4}})(?:[ /-]?\d{{2,5}}+){{1,5}}{_NOT_BEFORE}",
            _A,
        ),
        _phone_like,
    ),
    _pattern(
        "phone",
        re.compile(
            rf"{_NOT_AFTER}(?:\(\d{{3}}\) ?|\d{{3}}[ .-])\d{{3}}[ .-]\d{{4}}{_NOT_BEFORE}", _A
        ),
    ),
    _windows("card_number", re.compile(r"\d+(?:[ -]\d+)*", _A), _luhn, 19),
    _windows("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9])+", _A), _mod97, 34),
    _pattern(
        "account_number",
        re.compile(
            r"\b(?:accounts?|acct|a/c|konto(?:nummer)?)\b\.?"
            r"(?:[ \t]*(?:number|nummer|no\b\.?|nr\b\.?|id\b|\#))?[ \t]*[:\#]?[ \t]*"
            r"(?P<value>\d(?:[ -]?\d){5,16})(?!\d)",
            _AI,
        ),
    ),
    _pattern("ip_address", re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\.?\d)", _A)),
)

# Specific kinds come first: on a tie in length the earlier detector names the removal.
_SECRETS: tuple[_Detector, ...] = (
    _pattern(
        "private_key",
        re.compile(
            r"-----BEGIN[A-Z0-9\s]*?PRIVATE\s+KEY(?:\s+BLOCK)?-----.*?"
            r"(?:-----END[A-Z0-9\s]*?PRIVATE\s+KEY(?:\s+BLOCK)?-----|\Z)",
            re.ASCII | re.DOTALL,
        ),
    ),
    _pattern("jwt", re.compile(r"(?<![\w-])eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*", _A)),
    _pattern(
        "aws_key",
        re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}(?![A-Z0-9])", _A),
    ),
    _pattern(
        "api_key",
        re.compile(rf"(?<![A-Za-z0-9])(?:{_KEY_PREFIXES})[\w-]{{12,}}", _A),
        _random_looking,
    ),
    _pattern(
        "bearer_token",
        re.compile(r"\bBearer\s+(?P<token>[\w.~+/-]{8,}=*)", _AI),
        _random_looking,
    ),
    _pattern(
        "url_credentials",
        re.compile(r"(?<=://)[^\s/@:]+:(?P<password>[^\s/@]+)(?=@)", _A),
    ),
    _pattern(
        "password_assignment",
        re.compile(
            rf"(?<![\w.-])[\w.-]*?(?:{_CREDENTIAL_LABELS})[\"']?[ \t]*[:=][ \t]*"
            r"(?:\"(?P<dq>[^\"\n]+)\"|'(?P<sq>[^'\n]+)'|(?P<bare>[^\s,;&}]+))",
            _AI,
        ),
    ),
)


def _names(names: Iterable[str]) -> _Detector | None:
    wanted = sorted({" ".join(name.split()) for name in names} - {""}, key=len, reverse=True)
    if not wanted:
        return None
    # A name broken across a line or double-spaced is still the name.
    words = [r"\s+".join(re.escape(word) for word in name.split()) for name in wanted]
    return _pattern("name", re.compile(rf"(?<!\w)(?:{'|'.join(words)})(?!\w)", re.IGNORECASE))


def _parse_classes(classes: Iterable[str | Sensitivity]) -> set[Sensitivity]:
    valid = [member.value for member in Sensitivity]
    chosen: set[Sensitivity] = set()
    for item in classes:
        if item not in valid:
            close = difflib.get_close_matches(str(item), valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown redaction class {str(item)!r}{hint}; valid classes: {', '.join(valid)}"
            )
        chosen.add(Sensitivity(item))
    return chosen


def redact(
    text: str, classes: Iterable[str | Sensitivity], *, names: Iterable[str] = ()
) -> Redacted:
    """Remove every match of the requested classes from ``text``.

    ``names`` are the people the incident marks; they count as personal data and are
    matched case-insensitively as whole words. Unknown classes raise ``ValueError``.
    """
    chosen = _parse_classes(classes)
    detectors: list[tuple[Sensitivity, _Detector]] = []
    if Sensitivity.SECRETS in chosen:
        detectors += [(Sensitivity.SECRETS, detector) for detector in _SECRETS]
    if Sensitivity.PERSONAL_DATA in chosen:
        name_detector = _names(names)
        people = (name_detector,) if name_detector else ()
        detectors += [(Sensitivity.PERSONAL_DATA, d) for d in (*people, *_PERSONAL)]

    # Sorted by position; on equal spans the earlier detector comes first and names it.
    found = sorted(
        (start, end, start - end, priority, sensitivity, kind)
        for priority, (sensitivity, detector) in enumerate(detectors)
        for start, end, kind in detector(text)
    )
    clusters: list[list[int]] = []  # start, end, length of the longest, index into found
    for index, (start, end, negative_length, *_) in enumerate(found):
        if clusters and start < clusters[-1][1]:
            cluster = clusters[-1]
            cluster[1] = max(cluster[1], end)
            if -negative_length > cluster[2]:
                cluster[2:] = [-negative_length, index]
        else:
            clusters.append([start, end, -negative_length, index])
    removals = [
        Removal(found[index][4], found[index][5], start, end, _replacement(found[index][5]))
        for start, end, _, index in clusters
    ]

    pieces: list[str] = []
    position = 0
    for removal in removals:
        pieces += [text[position : removal.start], removal.replacement]
        position = removal.end
    pieces.append(text[position:])
    return Redacted("".join(pieces), tuple(removals))


def _replacement(kind: str) -> str:
    return _REPLACEMENTS.get(kind, _REMOVED_CREDENTIAL)
