"""The harness's own test, run first and counted: a harness whose validators never fail proves
nothing. A valid SEG + SR from `mambanode process` must pass `Conformance/run --validate-only`;
the same SEG deliberately broken must make it print FAIL from the validator that finds the
break and exit non-zero."""

import os
import shutil
import sys

import pydicom

from .peers import run

RUN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "run")


def validate_only(binary, sources, results, model):
    return run(
        [sys.executable, RUN, "--validate-only", "--binary", binary, "--model", model, "--sources", sources, *results]
    )


def without_segmentation_type(ds):
    # Segmentation Type (0062,0001) is Type 1 in the Segmentation Image Module (PS3.3 C.8.20.2).
    del ds.SegmentationType
    return "Segmentation Type (0062,0001) removed", "dciodvfy", "SegmentationType"


def frame_pointing_elsewhere(ds):
    # The first frame's Source Image Sequence names an instance that is not in the series
    # (PS3.3 C.7.6.16.2.6 Derivation Image Functional Group).
    source = ds.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
    source.ReferencedSOPInstanceUID = "2.25.1"
    return (
        "first frame's source reference pointing at a non-existent instance",
        "highdicom",
        "outside the source series",
    )


BREAKS = [without_segmentation_type, frame_pointing_elsewhere]


def selftest(report, binary, work):
    folder, out, model = f"{work}/selftest", f"{work}/selftest-out", f"{work}/selftest-model"
    r = run([binary, "samples", "ct", folder, "--slices", "8", "--size", "32", "--spacing", "6", "--seed", "31"])
    r2 = run([binary, "models", "create-untrained", model, "--spacing", "6", "--patch", "32"])
    r3 = run([binary, "process", "--model", model, "--input", folder, "--output", out])
    results = sorted(os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs if f.endswith(".dcm"))
    seg = next((p for p in results if os.path.basename(p).startswith("SEG")), None)
    if not report.check(
        "self-test: mambanode process writes a SEG and an SR for the validators",
        r.returncode == r2.returncode == r3.returncode == 0 and seg and len(results) == 2,
        r.stderr + r2.stderr + r3.stderr,
    ):
        return
    intact = validate_only(binary, folder, results, model)
    report.check(
        "self-test: --validate-only passes the intact SEG and SR (exit 0, '0 failed')",
        intact.returncode == 0 and ", 0 failed" in intact.stdout and "FAIL" not in intact.stdout,
        "\n".join(l for l in intact.stdout.splitlines() if l.startswith("FAIL"))[:400] or intact.stderr[-400:],
    )
    for index, damage in enumerate(BREAKS):
        ds = pydicom.dcmread(seg)
        what, validator, needle = damage(ds)
        broken = f"{work}/selftest-broken-{index}"
        os.makedirs(broken, exist_ok=True)
        path = os.path.join(broken, os.path.basename(seg))
        ds.save_as(path, enforce_file_format=True)
        sr = next(p for p in results if p != seg)
        shutil.copy(sr, broken)
        r = validate_only(binary, folder, [path, os.path.join(broken, os.path.basename(sr))], model)
        fails = [l for l in r.stdout.splitlines() if l.startswith("FAIL")]
        blamed = [l for l in fails if validator in l and needle in l]
        report.check(
            f"self-test: a SEG with the {what} fails — {validator} reports it, exit {r.returncode}",
            r.returncode != 0 and blamed,
            "\n".join(fails)[:400] or r.stdout[-400:] + r.stderr[-400:],
        )
