"""Amounts are integer minor units with an ISO currency; parsing and display live here."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 currencies Duet accepts, with their number of minor-unit digits.
CURRENCIES = {"USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "CHF": 2, "SEK": 2, "JPY": 0}
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


class AmountError(ValueError):
    """Text that is not a valid amount for the currency."""


def parse_amount(text, currency):
    """'1,250.50' in USD → 125050 minor units; refuses more decimals than the currency has."""
    digits = CURRENCIES[currency]
    cleaned = text.strip().replace(",", "").replace(" ", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as error:
        raise AmountError("Enter an amount such as 250 or 250.00.") from error
    if not value.is_finite() or value < 0:
        raise AmountError("Enter a positive amount.")
    if value.as_tuple().exponent < -digits:
        raise AmountError(f"{currency} amounts have at most {digits} decimals.")
    minor = int((value * (10**digits)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if minor >= 10**15:
        raise AmountError("That amount is too large.")
    return minor


def format_amount(minor, currency):
    """125050, 'USD' → '$1,250.50'."""
    digits = CURRENCIES.get(currency, 2)
    major = Decimal(minor).scaleb(-digits)
    text = f"{major:,.{digits}f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def amount_input(minor, currency):
    """Minor units back into the plain text a form field shows ('1250.50')."""
    if minor is None:
        return ""
    digits = CURRENCIES.get(currency, 2)
    return f"{Decimal(minor).scaleb(-digits):.{digits}f}"
