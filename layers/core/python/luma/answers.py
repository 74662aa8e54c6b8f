"""Yes and no in the nine languages Luma answers in: for approvals and confirmations on text channels."""

from __future__ import annotations

import re

_YES_WORDS = (
    r"yes|yeah|yep|y|sure|ok|okay|confirm|approve|approved|please do|do it|go ahead|correct|"
    r"oui|ouais|d'accord|bien sûr|si|sí|claro|vale|sim|claro que sim|ja|jawohl|genau|gerne|sì|certo|certamente|"
    r"da|sigur|desigur|tak|oczywiście|jasne|نعم|أجل|اجل|أكيد|اكيد|تمام|موافق"
)
_NO_WORDS = (
    r"no|nope|n|decline|cancel that|don'?t|do not|keep it|never ?mind|"
    r"non|pas question|não|nao|nein|nee|nie|nu|لا|كلا"
)
_YES = re.compile(rf"^\s*(?:{_YES_WORDS})(?!\w)", re.I)
_NO = re.compile(rf"^\s*(?:{_NO_WORDS})(?!\w)", re.I)


def is_yes(text: str) -> bool:
    """An answer that starts with yes in one of the nine languages ("sí", "oui", "ja", "tak", "da", "نعم")."""
    return bool(_YES.match(text)) and not _NO.match(text)


def is_no(text: str) -> bool:
    """An answer that starts with no in one of the nine languages ("non", "nein", "nie", "nu", "não", "لا")."""
    return bool(_NO.match(text))
