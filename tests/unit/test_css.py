"""The stylesheet's colours come from custom properties that light and dark mode both define: a
`var(--name, fallback)` naming a property that does not exist silently takes the fallback, the
same colour in both modes (a dark-red claim on the dark board failed axe's contrast check)."""

import re
from pathlib import Path

CSS = Path(__file__).resolve().parents[2] / "web" / "static" / "css"


def test_every_custom_property_used_is_defined() -> None:
    for sheet in CSS.glob("*.css"):
        text = sheet.read_text()
        defined = set(re.findall(r"(--[\w-]+)\s*:", text))
        used = set(re.findall(r"var\(\s*(--[\w-]+)", text))
        assert used - defined == set(), sheet.name


def test_the_dark_mode_redefines_every_colour_of_the_light_mode() -> None:
    text = (CSS / "app.css").read_text()
    light = text.split("@media (prefers-color-scheme: dark)", 1)[0]
    dark = text.split("@media (prefers-color-scheme: dark)", 1)[1].split("\n}\n", 1)[0]
    colours = {name for name, value in re.findall(r"(--[\w-]+)\s*:\s*([^;]+);", light) if re.match(r"#|rgba?\(", value)}
    assert colours - set(re.findall(r"(--[\w-]+)\s*:", dark)) == set()
