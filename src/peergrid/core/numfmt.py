"""Number formatting for people: no "-0.0" for values that round to zero."""

from __future__ import annotations

__all__ = ["unsigned_zero"]


def unsigned_zero(text: str) -> str:
    """``text`` without its leading minus sign when it shows no non-zero digit.

    ``f"{-1e-17:.1f}"`` is ``"-0.0"``: a value that rounds to zero (or IEEE negative
    zero) is shown as ``"0.0"``; real negatives keep their sign.

    Parameters
    ----------
    text : str
        A formatted number, optionally followed by a unit without digits (``"-0.0 %"``).

    Returns
    -------
    str
        ``text``, or ``text[1:]`` if it starts with ``-`` and holds no digit 1–9.
    """
    if text.startswith("-") and not any(c in "123456789" for c in text):
        return text[1:]
    return text
