"""Numbers, units and symbols as a person says them: the spoken form of "21C (70F)", "$29.95", "10:30".

:func:`normalize` rewrites one line of speech text (English); the screen keeps the original. Every
rule is a regular expression with a function that writes the words, applied in this order (earlier
rules take the forms later ones would misread):

========================  =====================================  ==========================================
what                      written                                said
========================  =====================================  ==========================================
phone numbers             555-123-4567, (555) 765-4321           five five five, one two three, ...
dates                     2024-05-01, May 5, 2024, 5 May         May first, twenty twenty-four; the fifth of May
times                     10:30, 10:05, 9:00 a.m., 9am           ten thirty, ten oh five, nine a.m.
temperatures              21C (70F), -5°C, 98.6 °F               21 degrees Celsius, or 70 degrees Fahrenheit
money                     $29.95, £3.50, $5 million, 100 EUR     29 dollars and 95 cents, 5 million dollars
fractions                 3/4, 1 1/2, ½                          three quarters, 1 and a half, one half
ranges                    5-6 hours, 10–20%, 1990-2000           5 to 6 hours, nineteen ninety to two thousand
ordinals                  21st, 2nd                              twenty-first, second
years                     in 1984, the 1990s                     in nineteen eighty-four, the nineteen nineties
units after a number      5km, 60 mph, 2 GB, 1 kg                5 kilometers, 60 miles per hour, 1 kilogram
roman numerals in names   Henry VIII, World War II               Henry the Eighth, World War Two
========================  =====================================  ==========================================

Plain numbers ("391", "3.14", "1,000") stay digits: Piper's phonemizer reads them well, and the
text keeps matching what is shown. Number words come from ``num2words`` (a maintained library,
LGPL, no dependencies but ``docopt``): cardinals, ordinals and years, so the wording is one library's
and not hand-rolled here. Anything a rule does not recognise is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from num2words import num2words

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_MONTH_KEYS = {m[:3].lower(): m for m in _MONTHS} | {"sept": "September"}
_MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"


def cardinal(n: int | float) -> str:
    return num2words(n, lang="en")


def ordinal(n: int) -> str:
    return num2words(n, lang="en", to="ordinal")


def year(n: int) -> str:
    """1984 -> nineteen eighty-four, 2005 -> two thousand and five, 2024 -> twenty twenty-four."""
    return num2words(n, lang="en", to="year")


def _plural(words: str) -> str:
    """nineteen ninety -> nineteen nineties; two thousand -> two thousands."""
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _digits(group: str) -> str:
    return " ".join(cardinal(int(d)) for d in group if d.isdigit())


# --- the rules ----------------------------------------------------------------------------------

_PHONE = re.compile(r"(?<![\w.+-])(?:(\+?1)[\s.-]?)?(\(\d{3}\)|\d{3})[\s.-](\d{3})[\s.-](\d{4})(?![\w-])"
                    r"|(?<![\w.-])(\d{3})-(\d{4})(?![\w-])")


def _phone(m: re.Match) -> str:
    groups = [g for g in m.groups() if g]
    return ", ".join(_digits(g) for g in groups)


_ISO_DATE = re.compile(r"(?<![\w-])(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?![\w-])")
_MONTH_DAY = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?")
_DAY_MONTH = re.compile(rf"\b([Tt]he\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\b(?:\.?,?\s+(\d{{4}})\b)?")


def _month(name: str) -> str:
    return "September" if name.lower().startswith("sept") else _MONTH_KEYS.get(name[:3].lower(), name)


def _iso_date(m: re.Match) -> str:
    return f"{_MONTHS[int(m[2]) - 1]} {ordinal(int(m[3]))}, {year(int(m[1]))}"


def _month_day(m: re.Match) -> str:
    day = int(m[2])
    if not 1 <= day <= 31:
        return m[0]
    return f"{_month(m[1])} {ordinal(day)}" + (f", {year(int(m[3]))}" if m[3] else "")


def _day_month(m: re.Match) -> str:
    day = int(m[2])
    if not 1 <= day <= 31:
        return m[0]
    the = (m[1] or "the ").strip() + " "
    return f"{the}{ordinal(day)} of {_month(m[3])}" + (f", {year(int(m[4]))}" if m[4] else "")


_TIME = re.compile(r"(?<![\w:.])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])(?:\s?([aApP])\.?\s?[mM]\b\.?)?")
_HOUR_AMPM = re.compile(r"(?<![\w:.])(1[0-2]|0?[1-9])\s?([aApP])\.?[mM]\b\.?")


def _ampm(letter: str | None) -> str:
    return f" {letter.lower()}.m." if letter else ""


def _time(m: re.Match) -> str:
    hour, minute = int(m[1]), int(m[2])
    if minute == 0:
        spoken = cardinal(hour) + ("" if m[3] else " o'clock" if hour <= 12 else " hundred")
    elif minute < 10:
        spoken = f"{cardinal(hour)} oh {cardinal(minute)}"
    else:
        spoken = f"{cardinal(hour)} {cardinal(minute)}"
    return spoken + _ampm(m[3])


def _hour_ampm(m: re.Match) -> str:
    return f"{cardinal(int(m[1]))}{_ampm(m[2])}"


_NUM = r"[-−–]?\d+(?:\.\d+)?"
_TEMP = rf"({_NUM})(?:\s?°\s?([CFK])|([CF]))(?![\w°])"
_TEMP_PAIR = re.compile(rf"(?<![\w.]){_TEMP}\s*\(\s*(?:or\s+)?{_TEMP}\s*\)")
_TEMP_ONE = re.compile(rf"(?<![\w.]){_TEMP}")
_SCALES = {"C": "Celsius", "F": "Fahrenheit", "K": "kelvin"}


def _degrees(number: str, scale: str) -> str:
    sign = "minus " if number[0] in "-−–" else ""
    number = number.lstrip("-−–")
    unit = "degree" if number in ("1", "1.0") else "degrees"
    if scale == "K":
        unit = "kelvin"
        return f"{sign}{number} {unit}"
    return f"{sign}{number} {unit} {_SCALES[scale]}"


def _temp_pair(m: re.Match) -> str:
    return f"{_degrees(m[1], m[2] or m[3])}, or {_degrees(m[4], m[5] or m[6])},"


def _temp_one(m: re.Match) -> str:
    return _degrees(m[1], m[2] or m[3])


_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
               "£": ("pound", "pounds", "penny", "pence"), "¥": ("yen", "yen", "", ""),
               "₹": ("rupee", "rupees", "paisa", "paise")}
_CODES = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
_SCALE = r"(?:\s?(thousand|million|billion|trillion|[kK]|[mM]n?|[bB]n?)\b)?"
_MONEY = re.compile(rf"([$€£¥₹])\s?(\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.(\d{{1,2}}))?(?!\d){_SCALE}")
_MONEY_CODE = re.compile(rf"(?<![\w.])(\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.(\d{{1,2}}))?{_SCALE}\s?(USD|EUR|GBP|JPY|INR)\b")
_SCALE_WORDS = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion"}


def _money_words(symbol: str, whole: str, cents: str | None, scale: str | None) -> str:
    one, many, sub_one, sub_many = _CURRENCIES[symbol]
    if scale:
        scale = _SCALE_WORDS.get(scale.lower(), scale.lower())
        amount = whole + (f".{cents}" if cents else "")
        return f"{amount} {scale} {many}"
    units = int(whole.replace(",", ""))
    sub = int(cents.ljust(2, "0")) if cents else 0
    if sub and not sub_one:  # yen has no cents
        return f"{whole}.{cents} {many}"
    parts = []
    if units or not sub:
        parts.append(f"{whole} {one if units == 1 else many}")
    if sub:
        parts.append(f"{sub} {sub_one if sub == 1 else sub_many}")
    return " and ".join(parts)


def _money(m: re.Match) -> str:
    return _money_words(m[1], m[2], m[3], m[4])


def _money_code(m: re.Match) -> str:
    return _money_words(_CODES[m[4]], m[1], m[2], m[3])


_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅖": (2, 5),
           "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8)}
_FRACTION = re.compile(r"(?<![\w/.])(?:(\d+)\s)?(\d{1,2})/(\d{1,2})(?![\w/.]|\.\d)")
_VULGAR_RE = re.compile(r"(?:(\d+)\s?)?([½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞])")


def _fraction_words(num: int, den: int) -> str:
    if den == 2:
        name = "half" if num == 1 else "halves"
    elif den == 4:
        name = "quarter" if num == 1 else "quarters"
    else:
        name = ordinal(den) if num == 1 else _plural_ordinal(ordinal(den))
    return f"{cardinal(num)} {name}"


def _plural_ordinal(word: str) -> str:
    return word + "s"


def _mixed(whole: str | None, num: int, den: int) -> str:
    if whole:
        if num == 1 and den == 2:
            return f"{whole} and a half"
        return f"{whole} and {_fraction_words(num, den)}"
    return _fraction_words(num, den)


def _fraction(m: re.Match) -> str:
    num, den = int(m[2]), int(m[3])
    if m[0] == "24/7":
        return "twenty-four seven"
    if not (2 <= den <= 16 and 0 < num and (num < den or den in (2, 4))):
        return m[0]
    return _mixed(m[1], num, den)


def _vulgar(m: re.Match) -> str:
    return _mixed(m[1], *_VULGAR[m[2]])


_RANGE = re.compile(r"(?<![\w.,:/-])(\d{1,4}(?:\.\d+)?)(?:-|\s?[–—]\s?)(\d{1,4}(?:\.\d+)?)(?![\w,:/-]|\.\d)")


def _range(m: re.Match) -> str:
    a, b = m[1], m[2]
    if _is_year(a) and _is_year(b):
        return f"{year(int(a))} to {year(int(b))}"
    return f"{a} to {b}"


_ORDINAL = re.compile(r"(?<![\w.])(\d+)(st|nd|rd|th)\b")


def _ordinal(m: re.Match) -> str:
    n = int(m[1])
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10 if n % 100 not in (11, 12, 13) else 0, "th")
    return ordinal(n) if m[2].lower() == suffix else m[0]


def _is_year(text: str) -> bool:
    return len(text) == 4 and text.isdigit() and 1100 <= int(text) <= 2099


_YEAR = re.compile(rf"\b((?i:in|since|by|until|till|from|before|after|around|circa|during|of|year|early|late|mid)|{_MONTH})"
                   r"(\s+)(1[1-9]\d\d|20\d\d)(?![\d,.]\d)\b|(?<![\w.,])(1[1-9]\d0|20[0-9]0)s\b")


def _year(m: re.Match) -> str:
    if m[3]:
        return f"{m[1]}{m[2]}{year(int(m[3]))}"
    return _plural(year(int(m[4])))


_UNITS = {
    "km/h": ("kilometer per hour", "kilometers per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"), "km": ("kilometer", "kilometers"), "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"), "g": ("gram", "grams"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "m": ("meter", "meters"), "mi": ("mile", "miles"), "ft": ("foot", "feet"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"), "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"), "L": ("liter", "liters"), "GB": ("gigabyte", "gigabytes"),
    "MB": ("megabyte", "megabytes"), "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"),
    "TB": ("terabyte", "terabytes"), "GHz": ("gigahertz", "gigahertz"), "MHz": ("megahertz", "megahertz"),
    "kHz": ("kilohertz", "kilohertz"), "Hz": ("hertz", "hertz"), "kW": ("kilowatt", "kilowatts"),
    "kWh": ("kilowatt hour", "kilowatt hours"), "W": ("watt", "watts"), "V": ("volt", "volts"),
    "mAh": ("milliamp hour", "milliamp hours"), "ms": ("millisecond", "milliseconds"), "h": ("hour", "hours"),
    "hr": ("hour", "hours"), "hrs": ("hour", "hours"), "min": ("minute", "minutes"), "mins": ("minute", "minutes"),
    "sec": ("second", "seconds"), "secs": ("second", "seconds"), "sq ft": ("square foot", "square feet"),
}
_UNIT = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*)\s?(" + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
                   + r")(?![\w/°])(?=\s|$|[.,;:!?)])")


def _unit(m: re.Match) -> str:
    if m[2] == "m" and not m[0][len(m[1]):].startswith(" "):
        return m[0]  # "2m" is as often two million as two meters
    one, many = _UNITS[m[2]]
    return f"{m[1]} {one if m[1] in ('1', '1.0') else many}"


_REGNAL = frozenset("""henry louis elizabeth george edward charles james william john richard mary anne victoria
philip frederick peter catherine alexander nicholas ivan gustav gustavus ferdinand leopold napoleon
constantine paul pius leo benedict gregory innocent clement urban boniface alfonso juan carlos felipe
harald olaf christian haakon umberto vittorio wilhelm otto rudolf sigismund casimir stanislaus
""".split())
_ROMAN = re.compile(r"\b([A-Z][a-z]+)\s+((?:XL|L?X{0,3})(?:IX|IV|V?I{0,3}))(?![\w'])")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50}


def _roman_value(text: str) -> int:
    total = 0
    for i, ch in enumerate(text):
        value = _ROMAN_VALUES[ch]
        total += -value if i + 1 < len(text) and _ROMAN_VALUES[text[i + 1]] > value else value
    return total


def _roman(m: re.Match) -> str:
    name, numeral = m[1], m[2]
    if not numeral:
        return m[0]
    if name.lower() in _REGNAL:
        return f"{name} the {ordinal(_roman_value(numeral)).capitalize()}"
    if len(numeral) < 2 or name.lower() in _NOT_TITLES:
        return m[0]  # "Malcolm X", "My CV": a lone letter or a pronoun is no numeral
    return f"{name} {cardinal(_roman_value(numeral)).capitalize()}"


_NOT_TITLES = frozenset("i my your his her its our their the a an and or but to of in on at for with".split())

_TIMES = re.compile(r"(?<=\d)\s?[x×]\s?(?=\d)")
_TILDE_AFTER_ABOUT = re.compile(r"\b(about|around|approximately|roughly|circa|nearly)\s+~\s?(?=\d)", re.I)

RULES: list[tuple[re.Pattern, Callable[[re.Match], str] | str]] = [
    (_TILDE_AFTER_ABOUT, r"\1 "),
    (_PHONE, _phone),
    (_ISO_DATE, _iso_date),
    (_TIME, _time),
    (_HOUR_AMPM, _hour_ampm),
    (_TEMP_PAIR, _temp_pair),
    (_TEMP_ONE, _temp_one),
    (_MONEY, _money),
    (_MONEY_CODE, _money_code),
    (_MONTH_DAY, _month_day),
    (_DAY_MONTH, _day_month),
    (_VULGAR_RE, _vulgar),
    (_FRACTION, _fraction),
    (_RANGE, _range),
    (_ORDINAL, _ordinal),
    (_YEAR, _year),
    (_UNIT, _unit),
    (_ROMAN, _roman),
    (_TIMES, " times "),
]


_MAYBE = re.compile(r"[\d½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞]|\b[IVXL]+\b")
_COMMA_BEFORE_STOP = re.compile(r",\s*(?=[.,;:!?)]|$)")


def normalize(line: str) -> str:
    """``line`` with numbers, units and symbols written as words where a rule knows how to say them."""
    if not _MAYBE.search(line):
        return line
    for pattern, replacement in RULES:
        line = pattern.sub(replacement, line)
    return _COMMA_BEFORE_STOP.sub("", line)
