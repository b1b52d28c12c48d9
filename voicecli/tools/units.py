"""Unit conversion tables: length, mass, volume, speed, time (linear) and temperature (affine).

Each linear unit is a factor to its quantity's base unit (metre, kilogram, litre, metre per second,
second). Names are matched case-insensitively, with plurals, spelled-out names and the usual
abbreviations, because they come from a model that heard them spoken. US customary volumes are the
default ("gallon" is the US gallon); imperial ones are named "imperial gallon" / "uk pint".
"""

from __future__ import annotations

from voicecli.tools.registry import ToolError

# quantity -> {canonical symbol: (factor to base, aliases)}
_LINEAR: dict[str, dict[str, tuple[float, tuple[str, ...]]]] = {
    "length": {
        "m": (1.0, ("meter", "metre")),
        "km": (1000.0, ("kilometer", "kilometre")),
        "cm": (0.01, ("centimeter", "centimetre")),
        "mm": (0.001, ("millimeter", "millimetre")),
        "mi": (1609.344, ("mile",)),
        "yd": (0.9144, ("yard",)),
        "ft": (0.3048, ("foot", "feet")),
        "in": (0.0254, ("inch", "inches")),
        "nmi": (1852.0, ("nautical mile",)),
    },
    "mass": {
        "kg": (1.0, ("kilogram", "kilo")),
        "g": (0.001, ("gram", "gramme")),
        "mg": (1e-6, ("milligram",)),
        "t": (1000.0, ("tonne", "metric ton")),
        "lb": (0.45359237, ("pound", "lbs")),
        "oz": (0.028349523125, ("ounce",)),
        "st": (6.35029318, ("stone",)),
    },
    "volume": {
        "l": (1.0, ("liter", "litre")),
        "ml": (0.001, ("milliliter", "millilitre")),
        "cl": (0.01, ("centiliter", "centilitre")),
        "dl": (0.1, ("deciliter", "decilitre")),
        "m3": (1000.0, ("cubic meter", "cubic metre", "m³")),
        "gal": (3.785411784, ("gallon", "us gallon")),
        "qt": (0.946352946, ("quart",)),
        "pt": (0.473176473, ("pint", "us pint")),
        "cup": (0.2365882365, ()),
        "fl oz": (0.0295735295625, ("fluid ounce", "floz")),
        "tbsp": (0.01478676478125, ("tablespoon",)),
        "tsp": (0.00492892159375, ("teaspoon",)),
        "imp gal": (4.54609, ("imperial gallon", "uk gallon")),
        "imp pt": (0.56826125, ("imperial pint", "uk pint")),
    },
    "speed": {
        "m/s": (
            1.0,
            ("meter per second", "metre per second", "meters per second", "metres per second", "mps"),
        ),
        "km/h": (
            1000 / 3600,
            (
                "kph",
                "kmh",
                "kmph",
                "kilometer per hour",
                "kilometre per hour",
                "kilometers per hour",
                "kilometres per hour",
            ),
        ),
        "mph": (1609.344 / 3600, ("mi/h", "mile per hour", "miles per hour")),
        "kn": (1852 / 3600, ("knot", "kt")),
        "ft/s": (0.3048, ("fps", "foot per second", "feet per second")),
    },
    "time": {
        "s": (1.0, ("sec", "second")),
        "ms": (0.001, ("millisecond",)),
        "min": (60.0, ("minute",)),
        "h": (3600.0, ("hr", "hour")),
        "day": (86400.0, ("d",)),
        "week": (604800.0, ("wk",)),
        "year": (31557600.0, ("yr", "julian year")),  # 365.25 days
    },
}

# temperature: symbol -> (to kelvin, from kelvin)
_TEMPERATURE = {
    "c": (lambda v: v + 273.15, lambda k: k - 273.15),
    "f": (lambda v: (v - 32) * 5 / 9 + 273.15, lambda k: (k - 273.15) * 9 / 5 + 32),
    "k": (lambda v: v, lambda k: k),
}
_TEMPERATURE_ALIASES = {
    "c": ("celsius", "centigrade", "degc", "°c"),
    "f": ("fahrenheit", "degf", "°f"),
    "k": ("kelvin", "kelvins"),
}
_TEMPERATURE_NAMES = {"c": "°C", "f": "°F", "k": "K"}


def _build_index() -> dict[str, tuple[str, str]]:
    index: dict[str, tuple[str, str]] = {}
    for quantity, units in _LINEAR.items():
        for symbol, (_, aliases) in units.items():
            for name in (symbol, *aliases):
                index[name] = (quantity, symbol)
    for symbol, aliases in _TEMPERATURE_ALIASES.items():
        for name in (symbol, *aliases):
            index[name] = ("temperature", symbol)
    return index


_INDEX = _build_index()


def lookup(unit: str) -> tuple[str, str]:
    """(quantity, canonical symbol) for a unit name, or ToolError listing the known units."""
    key = " ".join(unit.lower().replace("degrees", "").replace("degree", "").split())
    key = key.replace("° ", "°")
    candidates = [key, key.lstrip("°")]
    if key.endswith("es"):
        candidates.append(key[:-2])
    if key.endswith("s"):
        candidates.append(key[:-1])
    for c in candidates:
        if c in _INDEX:
            return _INDEX[c]
    known = "; ".join(f"{q}: {', '.join(units)}" for q, units in _LINEAR.items()) + "; temperature: C, F, K"
    raise ToolError(f"unknown unit '{unit}'. Known units: {known}")


def convert(value: float, from_unit: str, to_unit: str) -> tuple[float, str, str]:
    """(converted value, from symbol, to symbol); ToolError for unknown or incompatible units."""
    q_from, s_from = lookup(from_unit)
    q_to, s_to = lookup(to_unit)
    if q_from != q_to:
        raise ToolError(f"cannot convert {q_from} ({from_unit}) to {q_to} ({to_unit})")
    if q_from == "temperature":
        kelvin = _TEMPERATURE[s_from][0](value)
        if kelvin < 0:
            raise ToolError(f"{value:g} {_TEMPERATURE_NAMES[s_from]} is below absolute zero")
        return _TEMPERATURE[s_to][1](kelvin), _TEMPERATURE_NAMES[s_from], _TEMPERATURE_NAMES[s_to]
    units = _LINEAR[q_from]
    return value * units[s_from][0] / units[s_to][0], s_from, s_to
