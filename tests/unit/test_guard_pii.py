"""Personal-data detection and masking (luma.guard.pii): each kind valid/invalid, and no false hits."""

from __future__ import annotations

import itertools

import pytest
from luma.guard.pii import KINDS, detect, mask


def kinds(text: str, **kw: object) -> list[tuple[str, str]]:
    return [(s.kind, s.detail) for s in detect(text, **kw)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "kind", "detail"),
    [
        ("write to alice.martin@mail.fr please", "email", "email"),
        ("call +33 6 12 34 56 78 tonight", "phone", "FR"),
        ("my cell is +1 415 555 2671", "phone", "US"),
        ("mobile +48 601 234 567", "phone", "PL"),
        ("رقمي +966 50 123 4567", "phone", "SA"),
        ("whatsapp:+40721234567", "phone", "RO"),
        ("card 4111 1111 1111 1111 exp 12/27", "card", "visa"),
        ("5555-5555-5555-4444", "card", "mastercard"),
        ("amex 3782 822463 10005", "card", "amex"),
        ("IBAN DE89 3704 0044 0532 0130 00", "iban", "DE"),
        ("iban gb82 west 1234 5698 7654 32 thanks", "iban", "GB"),
        ("IBAN FR76 3000 6000 0112 3456 7890 189 merci", "iban", "FR"),
        ("my ssn is 123-45-6789", "national_id", "us_ssn"),
        ("national insurance number AB 12 34 56 C", "national_id", "gb_nino"),
        ("numéro de sécu 1 84 12 76 451 089 46", "national_id", "fr_nir"),
        ("mon NIR 290029912345652", "national_id", "fr_nir"),
        ("DNI 12345678Z", "national_id", "es_dni"),
        ("NIE X-1234567-L", "national_id", "es_nie"),
        ("codice fiscale RSSMRA85T10A562S", "national_id", "it_cf"),
        ("o meu NIF é 123 456 789", "national_id", "pt_nif"),
        ("CPF 529.982.247-25", "national_id", "br_cpf"),
        ("CNP 1870314123459", "national_id", "ro_cnp"),
        ("numer PESEL 44051401359", "national_id", "pl_pesel"),
        ("Steuer-ID 86095742719", "national_id", "de_steuer_id"),
        ("رقم الهوية 1087654321", "national_id", "sa_nid"),
        ("Emirates ID 784-1987-1234567-1", "national_id", "ae_eid"),
        ("born 14/03/1987", "dob", "birth_context"),
        ("né le 3 mars 1990 à Lyon", "dob", "birth_context"),
        ("fecha de nacimiento: 14 de marzo de 1987", "dob", "birth_context"),
        ("Alice Martin, 1987-03-14", "dob", "old_date"),
        ("ip 8.8.8.8", "ip", "ipv4"),
        ("Authorization: Bearer abcdefghijklmnop", "secret", "bearer"),
        ("token=abcdefghijk123", "secret", "value"),
        ("key AKIAIOSFODNN7EXAMPLE", "secret", "akid"),
    ],
)
def test_each_kind_is_found(text: str, kind: str, detail: str) -> None:
    assert (kind, detail) in kinds(text)
    masked = mask(text)
    assert f"<{'id' if kind == 'national_id' else kind}>" in masked


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("card 4111 1111 1111 1112", "card"),  # Luhn fails
        ("9111 1111 1111 1117", "card"),  # no issuer starts with 9
        ("IBAN DE89 3704 0044 0532 0130 01", "iban"),  # mod-97 fails
        ("IBAN FR76 3000 6000 0112 3456 7890", "iban"),  # too short for FR
        ("my ssn is 000-12-3456", "national_id"),  # area 000 is never issued
        ("numéro de sécu 1 84 12 76 451 089 47", "national_id"),  # wrong key
        ("DNI 12345678A", "national_id"),  # wrong letter
        ("NIE X1234567A", "national_id"),
        ("codice fiscale RSSMRA85T10A562T", "national_id"),
        ("o meu NIF é 123 456 780", "national_id"),
        ("CPF 529.982.247-26", "national_id"),
        ("CNP 1870314123458", "national_id"),
        ("numer PESEL 44051401358", "national_id"),
        ("Steuer-ID 86095742718", "national_id"),
        ("Emirates ID 784-1987-1234567-2", "national_id"),
        ("call +1 123 456 7890", "phone"),  # no North American area code starts with 1
        ("call +33 1 23", "phone"),
    ],
)
def test_invalid_checksums_and_numbers_are_not_reported(text: str, kind: str) -> None:
    assert kind not in [k for k, _ in kinds(text)]


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-02 07:05:36 INFO turn done",
        "2026-12-02T07:05:36.123Z",
        "2026-12-02 07:05:36,123+0000",
        "at 07:05:36 the run ended",
        "arn:aws:lambda:eu-west-1:123456789012:function:luma-classify",
        "arn:aws:states:eu-west-1:123456789012:execution:agent-run:01JE8ZK3M4N5P6Q7R8S9T0V1W2",
        "request 3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
        "message 01JE8ZK3M4N5P6Q7R8S9T0V1W2 stored",
        "trace 1-5f84c7a5-0123456789abcdef01234567",
        "apigw request Kq1n3FzQoAMEVbw= connection Kq1n3cRXoAMCJ2A=",
        "execution agent-run-2026-12-02-0612345678 started",
        "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "total €1,234.56 or 1 234,56 € or $12,000 or 1.299,00 EUR or 4500000 lei",
        "order #123456789 shipped",
        "commande n° 0612345678 expédiée",
        "Bestellnummer 4711081512",
        "numer zamówienia 601234567",
        "invoice INV-2024-0612345678",
        "in 2024 and between 1990 and 2000",
        "took 1234567 ms, 1733126400 epoch, account 123456789012",
        "your appointment on 14/03/2026 at 10:30",
        "see you on 2026-03-14",
        "version 1.2.3 and 10.0.0.1, 127.0.0.1, 192.168.1.20",
    ],
)
def test_no_false_hits(text: str) -> None:
    assert kinds(text, now_year=2026) == []
    assert mask(text) == text


def test_assistant_examples_are_kept_in_output_mode() -> None:
    example = "For example: Jane Doe, 14/03/1990."
    assert mask(example, examples=True) == example
    assert mask(example) == "For example: Jane Doe, <dob>."  # from a user, an old full date is a birth date
    assert mask("Write it like jane.doe@example.com", examples=True).endswith("jane.doe@example.com")
    assert mask("Call +1 212 555 0142 (a fictional number).", examples=True).startswith("Call +1 212 555 0142")
    assert "<phone>" in mask("Your number +33 6 12 34 56 78 is saved.", examples=True)
    assert "<email>" in mask("I wrote to alice@mail.fr yesterday.", examples=True)
    # A birth date introduced as an example ("par exemple") is the assistant's example.
    assert mask("Donnez votre date de naissance, par exemple 02/05/1980.", examples=True).endswith("02/05/1980.")


def test_allowed_values_are_kept_whatever_their_format() -> None:
    allow = frozenset({"+33 1 84 88 00 00"})
    text = "Call the clinic on 01 84 88 00 00 or +33184880000, not +33 6 12 34 56 78."
    masked = mask(text, allow=allow, language="fr")
    assert "01 84 88 00 00" in masked and "+33184880000" in masked
    assert masked.count("<phone>") == 1


def test_phone_regions_follow_the_language() -> None:
    assert kinds("mi número es 612 345 678", language="es") == [("phone", "ES")]
    assert kinds("mój numer 601 234 567", language="pl") == [("phone", "PL")]
    assert kinds("ligue 912 345 678", language="pt") == [("phone", "PT")]
    assert kinds("appelle le 06 12 34 56 78", language="fr") == [("phone", "FR")]
    assert kinds("06.12.34.56.78", language="fr") == [("phone", "FR")]


def test_spans_do_not_overlap_and_details_hold_no_value() -> None:
    text = "alice@mail.fr +33 6 12 34 56 78 4111111111111111 DE89370400440532013000 12345678Z"
    spans = detect(text)
    assert [s.kind for s in spans] == ["email", "phone", "card", "iban", "national_id"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    for span in spans:
        assert not any(ch.isdigit() for ch in span.detail.replace("ipv4", "")) or span.kind == "phone"
        assert text[span.start : span.end] not in span.detail


def test_kinds_can_be_restricted_and_unknown_kinds_are_refused() -> None:
    text = "alice@mail.fr +33 6 12 34 56 78"
    assert [s.kind for s in detect(text, kinds={"email"})] == ["email"]
    with pytest.raises(ValueError, match="unknown PII kinds"):
        detect(text, kinds={"emails"})
    assert set(KINDS) >= {"email", "phone", "card", "iban", "national_id", "dob", "ip", "secret"}
