"""Kubernetes resource quantities (``16Gi``, ``500m``, ``1.5``, ``2e3``) as exact numbers.

Only what the launcher needs: syntax check (the CRD's quantity pattern) and comparison,
e.g. that a memory-backed ``/dev/shm`` fits under the container's memory limit.
"""

from __future__ import annotations

import re
from decimal import Decimal

# The pattern the CRD schema puts on every quantity field.
QUANTITY_PATTERN = (r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
                    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")
_QUANTITY = re.compile(QUANTITY_PATTERN)
_NUMBER = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)$")

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9),
            "T": Decimal(10**12), "P": Decimal(10**15), "E": Decimal(10**18)}


def is_quantity(text: str) -> bool:
    """True when ``text`` is a valid Kubernetes quantity string."""
    return bool(_QUANTITY.match(text))


def parse_quantity(text: str) -> Decimal:
    """The exact value of a quantity: ``parse_quantity("1Gi") == 1073741824``.

    Raises ValueError naming the text when it is not a quantity.
    """
    if not is_quantity(text):
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. 500m, 8, 16Gi, 1e9)")
    match = _NUMBER.match(text)
    assert match is not None  # the quantity pattern guarantees a leading number
    number, suffix = Decimal(match.group(1)), match.group(2)
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * (Decimal(10) ** Decimal(suffix[1:]))  # exponent form: e3, E-2
