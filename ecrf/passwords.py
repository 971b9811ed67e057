"""The password policy (NIST SP 800-63B): long enough, hard to guess, not the user's own name.

Pure rules: nothing here reads the database or hashes anything.
"""

from __future__ import annotations

import threading

from zxcvbn import zxcvbn

MIN_STRENGTH = 3  # zxcvbn's score, 0-4: 3 is "safely unguessable: moderate protection from offline attacks"
# zxcvbn refuses longer input; a password whose first 72 characters are hard to guess is hard to guess.
STRENGTH_PREFIX = 72
# zxcvbn keeps the user inputs of the call in a module-level dictionary while it scores: two threads
# scoring at once would score against each other's names.
_zxcvbn_lock = threading.Lock()


def password_problems(password: str, *, min_length: int, username: str = "", full_name: str = "") -> list[str]:
    """Why ``password`` is not acceptable, one sentence each (an empty list when it is).

    A password that contains the username is refused; its strength is measured as an attacker who
    knows the username and the printed name would guess.
    """
    password = password or ""
    if len(password) < min_length:
        return [f"password must have at least {min_length} characters"]
    problems = []
    if username and username.lower() in password.lower():
        problems.append("password must not contain the username")
    words = [word for word in (username, full_name, "".join(full_name.split()), *full_name.split()) if word]
    with _zxcvbn_lock:
        strength = zxcvbn(password[:STRENGTH_PREFIX], user_inputs=words)
    if strength["score"] < MIN_STRENGTH:
        problems.append(_too_easy(strength))
    return problems


def _too_easy(strength: dict) -> str:
    """zxcvbn's own reasons, in one sentence: what makes the password guessable, and what would help."""
    feedback = strength.get("feedback") or {}
    reasons = [feedback.get("warning") or "", *(feedback.get("suggestions") or [])]
    told = " ".join(reason.strip() for reason in reasons if reason and reason.strip())
    summary = f"password is too easy to guess (strength {strength['score']} of 4, at least {MIN_STRENGTH} needed)"
    return f"{summary}: {told}" if told else summary
