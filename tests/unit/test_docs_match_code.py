"""Docs that restate code are checked against it, so they cannot drift: `make help`, the channel
layer's table in docs/operations.md, and the README's feature map."""

import re
import subprocess
from pathlib import Path

from shared.layers import BACKENDS, channel_layer_settings

REPO = Path(__file__).resolve().parents[2]


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The cells of the first table after `heading`, header and rule lines left out."""
    section = markdown.split(heading, 1)[1]
    rows = []
    for line in section.split("\n|", 1)[1].splitlines():
        if not line.startswith("|") and rows:
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows.append(cells)
    return [row for row in rows[1:] if not set(row[0]) <= {"-"}]


def make_targets() -> set[str]:
    makefile = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))


def test_make_help_lists_every_target_once() -> None:
    listed = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    names = [line.split()[1] for line in listed.splitlines()]
    assert sorted(names) == sorted(make_targets())


def layer_table() -> dict[str, str]:
    text = (REPO / "docs" / "operations.md").read_text()
    return {row[0]: row[1] for row in table_rows(text, "### The channel layer")}


def numbers(cell: str) -> list[float]:
    return [float(number) for number in re.findall(r"\d+(?:\.\d+)?", cell)]


def test_the_channel_layer_table_is_what_shared_layers_builds() -> None:
    config = channel_layer_settings("redis", "redis://:secret@ignored/0", "ping", [("sentinel", 26379)], "ping")
    table, host = layer_table(), config["CONFIG"]["hosts"][0]
    assert BACKENDS["redis"] in table["backend (`CHANNEL_LAYER`)"]
    assert config["BACKEND"] == BACKENDS["redis"]
    assert f"`{config['CONFIG']['prefix']}`" in table["`prefix`"]
    assert numbers(table["`capacity`"]) == [config["CONFIG"]["capacity"]]
    assert numbers(table["`group_expiry`"]) == [config["CONFIG"]["group_expiry"]]
    assert numbers(table["`socket_timeout`"]) == [host["socket_timeout"]]
    assert numbers(table["`socket_connect_timeout`"]) == [host["socket_connect_timeout"]]
    sentinel = host["sentinel_kwargs"]
    assert numbers(table["sentinel `socket_timeout`, `socket_connect_timeout`"]) == [
        sentinel["socket_timeout"],
        sentinel["socket_connect_timeout"],
    ]


def test_the_channel_layer_table_names_every_setting_the_function_sets() -> None:
    config = channel_layer_settings("redis", "redis://localhost/0", "ping")
    documented = " ".join(layer_table())
    settings = [name for name in config["CONFIG"] if name != "hosts"] + [
        name for name in config["CONFIG"]["hosts"][0] if name != "address"
    ]
    assert [name for name in settings if f"`{name}`" not in documented] == []


# The README's feature map: each layer's column names files under one folder.
FEATURE_MAP_FOLDERS = {1: "web", 2: "ws", 3: "shared", 4: "web/static/js"}


def mentioned_files(cell: str) -> list[str]:
    return [name for name in re.findall(r"`([^`]+\.(?:py|html|js))`", cell)]


def find_file(folder: str, name: str) -> bool:
    if name.endswith(".html"):
        return any((REPO / "web" / "templates").rglob(name))
    return (REPO / folder / name).is_file()


def test_every_file_in_the_readme_feature_map_exists() -> None:
    rows = table_rows((REPO / "README.md").read_text(), "## Feature map")
    missing = [
        f"{row[0]}: {folder}/{name}"
        for row in rows
        for column, folder in FEATURE_MAP_FOLDERS.items()
        for name in mentioned_files(row[column])
        if not find_file(folder, name)
    ]
    assert len(rows) >= 8
    assert missing == []
