"""Money: integer minor units plus an ISO 4217 code, never a float.

Canonical money keeps the currency it came in. Conversion happens only when a value
is written to a platform that books it in another currency, so a value that came
from a platform is written back to it unchanged (the mappers also keep its original
text, see ``platforms.mapping``).

Parsing is exact: Procore decimal strings of any precision (``"250.0"``, ``"0.0"``,
``"1700000.00"``), BC JSON numbers given as ``int`` or ``Decimal`` (or a ``float``
from a JSON parser, taken through ``Decimal(repr(x))`` so no float arithmetic ever
touches an amount). More fraction digits than the currency allows are an error
unless they are zeros: ``"12.340"`` is fine in USD, ``"12.345"`` is not.

Conversion rule: the amount is multiplied by the exact ratio of the pegged rates
(1 USD = 3.64 QAR = 3.6725 AED = 3.75 SAR) and rounded once, half to even, to the
target currency's minor unit. Because every pegged currency is worth less than a
dollar, USD -> X -> USD returns the original amount (the error of the first rounding
shrinks below half a cent on the way back); the tests check it never drifts by more
than one minor unit. X -> USD -> X can drift by up to ``ceil(rate / 2)`` minor units
of X, which is why canonical values are never converted in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Context, Decimal, Inexact, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Final, Self

from iso4217 import Currency
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from canonical.construct import adopt
from canonical.errors import MoneyError

# Exponents come from the maintained ISO 4217 table; codes without a minor unit
# (gold, SDRs, the test code XTS...) are not money we book.
# (A plain dict, typed read-only: it is looked up several times per record.)
EXPONENTS: Final[Mapping[str, int]] = {c.code: c.exponent for c in Currency if c.exponent is not None}

# Pegged rates, as units of the currency per US dollar (Gulf central-bank pegs).
PEGGED_PER_USD: Final = MappingProxyType(
    {"USD": Decimal(1), "QAR": Decimal("3.64"), "AED": Decimal("3.6725"), "SAR": Decimal("3.75")}
)

# Large enough for any amount a ledger holds; Inexact turns silent rounding into an error.
_EXACT: Final = Context(prec=60, traps=[Inexact, InvalidOperation])
_POW10: Final[tuple[int, ...]] = tuple(10**e for e in range(max(EXPONENTS.values()) + 1))

AmountInput = str | int | Decimal | float


def exponent(currency: str) -> int:
    """Number of minor-unit digits of ``currency`` (2 for USD/QAR/AED/SAR, 0 for JPY, 3 for KWD)."""
    exp = EXPONENTS.get(currency) if isinstance(currency, str) else None
    if exp is None:
        raise MoneyError(f"unknown ISO 4217 currency {currency!r}")
    return exp


def _check_currency(code: str) -> str:
    if code not in EXPONENTS:
        raise ValueError(f"unknown ISO 4217 currency {code!r}")  # pydantic reports ValueErrors
    return code


CurrencyCode = Annotated[str, AfterValidator(_check_currency)]


class Money(BaseModel):
    """An amount in integer minor units of an ISO 4217 currency: ``{"amount": 170000000, "currency": "USD"}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: StrictInt = Field(description="Amount in minor units of the currency (cents for USD).")
    currency: CurrencyCode = Field(description="ISO 4217 code, e.g. USD, QAR.")

    # Money is frozen, so nothing mutates this set; sharing it saves an allocation per value.
    _fields_set: ClassVar[set[str]] = {"amount", "currency"}

    @classmethod
    def of(cls, amount: int, currency: str) -> Self:
        """Build without validation: for values the caller has just computed from checked input."""
        return adopt(cls, {"amount": amount, "currency": currency}, cls._fields_set)

    def __str__(self) -> str:
        return f"{format_amount(self.amount, self.currency)} {self.currency}"


def to_decimal(value: Any) -> Decimal:
    """An exact Decimal from a JSON number or decimal string; floats go through ``repr``."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, str):
        result = _decimal_from_text(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        raise MoneyError(f"expected a decimal number, got {type(value).__name__}")
    if not result.is_finite():
        raise MoneyError(f"expected a finite number, got {value!r}")
    return result


def _decimal_from_text(text: str) -> Decimal:
    # Decimal() alone would also take "1_000", " 5 ", "1e3" and "NaN": platforms send
    # plain decimal notation, anything else is a sign of a wrong field.
    if not _is_plain_decimal(text):
        raise MoneyError(f"expected a plain decimal number, got {text!r}")
    return Decimal(text)


def _is_plain_decimal(text: str) -> bool:
    body = text[1:] if text[:1] == "-" else text
    whole, dot, frac = body.partition(".")
    return body.isascii() and whole.isdigit() and (not dot or frac.isdigit())


def to_minor(value: Any, currency: str) -> int:
    """Minor units of ``value`` in ``currency``; raises MoneyError when that is not exact."""
    exp = exponent(currency)
    if isinstance(value, str):
        return parse_text_amount(value, exp, currency)[0]
    if isinstance(value, int) and not isinstance(value, bool):
        return value * _POW10[exp]
    scaled = to_decimal(value).scaleb(exp, _EXACT)
    integral = scaled.to_integral_value()
    if scaled != integral:
        raise _too_precise(value, currency, exp)
    return int(integral)


def parse_text_amount(text: str, exp: int, currency: str) -> tuple[int, bool]:
    """Minor units of a decimal string at exponent ``exp``, and whether ``text`` is already
    written the way ``format_amount`` writes it (so a round trip needs no copy of it)."""
    # Hand-rolled because it is the hot path of every Procore record: string slicing
    # and one int() are several times faster than Decimal construction plus scaling.
    negative = text[:1] == "-"
    whole, dot, frac = (text[1:] if negative else text).partition(".")
    if not (text.isascii() and whole.isdigit() and (not dot or frac.isdigit())):
        raise MoneyError(f"expected a plain decimal number, got {text!r}")
    standard = len(frac) == exp and (whole[0] != "0" or len(whole) == 1)
    if len(frac) > exp:
        if frac[exp:].strip("0"):
            raise _too_precise(text, currency, exp)
        frac = frac[:exp]
    minor = int(whole + frac) * _POW10[exp - len(frac)]
    if negative:
        return -minor, standard and minor != 0
    return minor, standard


def _too_precise(value: object, currency: str, exp: int) -> MoneyError:
    return MoneyError(f"{value!r} has more than {exp} decimal places, the minor unit of {currency}")


def format_amount(minor: int, currency: str) -> str:
    """Plain decimal text with exactly the currency's decimals: ``170000000 USD -> "1700000.00"``."""
    exp = exponent(currency)
    if exp == 0:
        return str(minor)
    whole, frac = divmod(-minor if minor < 0 else minor, _POW10[exp])
    return f"{'-' if minor < 0 else ''}{whole}.{frac:0{exp}d}"


def minor_to_decimal(minor: int, currency: str) -> Decimal:
    """Exact Decimal with the currency's decimals: ``170000000 USD -> Decimal("1700000.00")``."""
    return Decimal(minor).scaleb(-exponent(currency), _EXACT)


def parse_money(value: Any, currency: str) -> Money:
    """``Money`` from a native amount and its currency code."""
    return Money.of(to_minor(value, currency), currency)


def exchange_rate(source: str, target: str) -> Decimal:
    """Units of ``target`` per unit of ``source`` at the pegged rates (exact where it terminates)."""
    ratio = _rate(source, target)
    return Decimal(ratio.numerator) / Decimal(ratio.denominator)


@lru_cache(maxsize=64)
def _rate(source: str, target: str) -> Fraction:
    try:
        return Fraction(PEGGED_PER_USD[target]) / Fraction(PEGGED_PER_USD[source])
    except KeyError:
        raise MoneyError(f"no pegged exchange rate between {source} and {target}") from None


_MINOR_RATIOS: Final[dict[tuple[str, str], tuple[int, int]]] = {}


def _minor_ratio(source: str, target: str) -> tuple[int, int]:
    # Rate between minor units as an exact integer fraction, so conversion is integer math.
    ratio = _rate(source, target) * Fraction(_POW10[exponent(target)], _POW10[exponent(source)])
    _MINOR_RATIOS[source, target] = ratio.numerator, ratio.denominator
    return ratio.numerator, ratio.denominator


def convert(money: Money, target: str) -> Money:
    """``money`` in ``target`` currency at the pegged rate, rounded half to even to a minor unit."""
    if money.currency == target:
        return money
    return Money.of(convert_minor(money.amount, money.currency, target), target)


def convert_minor(amount: int, source: str, target: str) -> int:
    """``amount`` minor units of ``source`` in minor units of ``target`` (see ``convert``)."""
    if source == target:
        return amount
    numerator, denominator = _MINOR_RATIOS.get((source, target)) or _minor_ratio(source, target)
    return round_half_even(amount * numerator, denominator)


def round_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` (denominator > 0) rounded to the nearest integer, ties to even."""
    quotient, remainder = divmod(numerator, denominator)  # floor division: remainder in [0, d)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient
