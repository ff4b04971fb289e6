"""Command-line value syntax and the auto choice, as pure functions."""

from __future__ import annotations

import argparse

import pytest
from edge_export.choice import choose
from edge_export.cli import (
    parse_crop,
    parse_fraction_or_percent,
    parse_labels,
    parse_number,
    parse_size,
)
from edge_export.measure import Fidelity
from edge_export.report import VariantReport

from edge_daemon.inference.metadata import CropRule


def test_crop_rule_syntax():
    assert parse_crop("top=0.5") == CropRule(top=0.5)
    assert parse_crop("square=1, left=0.1,right=0.1") == CropRule(left=0.1, right=0.1,
                                                                   square=True)
    assert parse_crop("none") == CropRule()
    for bad in ("up=0.5", "top", "top=-1", "square=maybe", "top=x"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_crop(bad)


def test_numbers_sizes_labels_and_percentages():
    assert parse_number("1/255") == pytest.approx(1 / 255)
    assert parse_size("224") == (224, 224) and parse_size("320x240") == (320, 240)
    assert parse_labels("happy, sad") == ("happy", "sad")
    assert parse_fraction_or_percent("99%") == pytest.approx(0.99)
    assert parse_fraction_or_percent("0.97") == pytest.approx(0.97)
    for parse, bad in ((parse_size, "0"), (parse_size, "big"), (parse_labels, "a,,b"),
                       (parse_number, "1/0")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)


def variant(name: str, agreement: float, ms_one: float, gate: float = 0.99) -> VariantReport:
    return VariantReport(name=name, quantization=name, file_bytes=1,
                         fidelity=Fidelity(100, agreement, 0.0, 0.0),
                         latency_ms={"1": ms_one, "2": ms_one / 2},
                         passes_gate=agreement >= gate)


def test_auto_keeps_the_fastest_variant_that_passes_and_says_why():
    chosen, reason = choose([variant("fp32", 1.0, 140.0), variant("int8", 0.995, 82.0)],
                            "auto", 1, 0.99)
    assert chosen.name == "int8" and "fp32 is slower (140.00 ms/face)" in reason
    chosen, reason = choose([variant("fp32", 1.0, 0.41), variant("int8", 0.995, 0.66)],
                            "auto", 1, 0.99)
    assert chosen.name == "fp32" and "int8 is slower" in reason
    chosen, reason = choose([variant("fp32", 1.0, 140.0), variant("int8", 0.61, 82.0)],
                            "auto", 1, 0.99)
    assert chosen.name == "fp32" and "int8 fails the gate (61.0%)" in reason


def test_no_passing_variant_and_explicit_modes():
    chosen, reason = choose([variant("fp32", 0.9, 1.0), variant("int8", 0.5, 0.5)],
                            "auto", 1, 0.99)
    assert not chosen.passes_gate and chosen.name == "fp32" and "no variant passes" in reason
    chosen, reason = choose([variant("int8", 0.5, 0.5)], "int8", 1, 0.99)
    assert chosen.name == "int8" and "FAILS" in reason
