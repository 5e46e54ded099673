"""The table of samples the harness pushes to the node, one entry per sample class, each with how
it is made, how it reaches the node and what the node must do with it.

Adding a sample class is adding one `Sample(...)` to `SAMPLES`. Sizes are kept small so that the
whole run stays within a few minutes on two cores."""

import gzip
import json
import os
import random
import re
import shutil
from dataclasses import dataclass

import pydicom
from pydicom.uid import generate_uid

from .peers import run

SITE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".venv", "lib")


def site_packages():
    found = [os.path.join(SITE, d, "site-packages") for d in sorted(os.listdir(SITE))] if os.path.isdir(SITE) else []
    return found[0] if found else ""


# Real files shipped by the pydicom wheel (MIT; its data/test_files/README) and by the
# pydicom-data wheel (MIT, installed by Scripts/bootstrap from Scripts/requirements-test.txt).
PYDICOM_FILES = os.path.join(site_packages(), "pydicom", "data", "test_files")
PYDICOM_DATA = os.path.join(site_packages(), "data_store", "data")
# nibabel's DICOM test files (MIT; installed with nibabel by Scripts/bootstrap).
NIBABEL_DICOM = os.path.join(site_packages(), "nibabel", "nicom", "tests", "data")

EXPLICIT_LE, IMPLICIT_LE, DEFLATED = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.1.99"
JPEG_LS, JPEG_SV1, RLE = "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.5"


# What the node must do ---------------------------------------------------------------------


@dataclass
class Results:
    """Every series is stored, processed, and its results (SEG + SR for segmentation) delivered to
    the PACS and validated. `warning`: the done job's reason must name it (e.g. a second stack
    left out), so what the node did differently from the plain case is visible in the API."""

    warning: str = None


@dataclass
class Rejected:
    """Every series is stored, then its job fails with a reason naming the series and `reason`."""

    reason: str


@dataclass
class Refused:
    """Nothing reaches the node's store: storescu cannot send it or the node refuses the C-STORE."""


# How a sample is made ----------------------------------------------------------------------


@dataclass
class Made:
    """What a maker wrote: the files to push and, for phantoms, the ground truth."""

    paths: list
    truth: dict = None  # {"labels": NIfTI path on the series grid, "names": {"1": "liver", ...}}


def files_in(folder):
    return sorted(os.path.join(d, f) for d, _, names in os.walk(folder) for f in names)


def cli(ctx, *args):
    r = run([ctx.binary, *args])
    if r.returncode != 0:
        raise RuntimeError(f"mambanode {' '.join(args[:2])}: {r.stderr.strip()[-300:]}")
    return r


def phantom(syntax=EXPLICIT_LE, seed=1, slices=16, size=48):
    """The CT phantom of `mambanode samples ct`, written in `syntax`."""

    def make(ctx, folder):
        cli(
            ctx,
            "samples",
            "ct",
            folder,
            "--slices",
            str(slices),
            "--size",
            str(size),
            "--spacing",
            "6",
            "--transfer-syntax",
            syntax,
            "--seed",
            str(seed),
        )
        return Made([folder])

    return make


def phantom_jpeg2000(seed):
    """The CT phantom re-encoded JPEG 2000 lossless by GDCM's gdcmconv (DCMTK has no J2K encoder)."""

    def make(ctx, folder):
        plain = folder + "-plain"
        cli(ctx, "samples", "ct", plain, "--slices", "16", "--size", "48", "--spacing", "6", "--seed", str(seed))
        os.makedirs(folder)
        for path in files_in(plain):
            r = run(["gdcmconv", "--j2k", path, os.path.join(folder, os.path.basename(path))])
            if r.returncode != 0:
                raise RuntimeError("gdcmconv --j2k: " + r.stderr)
        return Made([folder])

    return make


def phantom_with_truth(seed, lesion):
    """The varied abdomen phantom (labels 1 liver … 5 vertebra) with its ground truth on the series grid."""

    def make(ctx, folder):
        labels, truth = folder + "-labels.nii.gz", folder + "-truth.json"
        cli(
            ctx,
            "samples",
            "ct",
            folder,
            "--slices",
            "32",
            "--size",
            "64",
            "--spacing",
            "5",
            "--seed",
            str(seed),
            "--lesion",
            lesion,
            "--labels",
            labels,
            "--truth",
            truth,
        )
        return Made([folder], {"labels": labels, "names": json.load(open(truth))["labels"]})

    return make


# MR grids small enough for two cores: 96 × 96 at 2.4 mm, 40 slices 4 mm apart.
MR_GRID = ("--size", "96", "--pixel-spacing", "2.4", "--slices", "40", "--spacing", "4")


def mr_brain(source):
    """An MR series resampled from a real brain (Colin27 / MNI152) with its brain mask as truth."""

    def make(ctx, folder):
        labels, truth = folder + "-labels.nii.gz", folder + "-truth.json"
        cli(ctx, "samples", "mr", folder, "--source", source, *MR_GRID, "--labels", labels, "--truth", truth)
        return Made([folder], {"labels": labels, "names": json.load(open(truth))["labels"]})

    return make


def mr_study(source="colin27"):
    """T1, T1CE, T2 and FLAIR series of one study (subfolders), the tumour labels as truth."""

    def make(ctx, folder):
        labels, truth = folder + "-labels.nii.gz", folder + "-truth.json"
        cli(ctx, "samples", "mr-study", folder, "--source", source, *MR_GRID, "--labels", labels, "--truth", truth)
        return Made([folder], {"labels": labels, "names": json.load(open(truth))["labels"]})

    return make


def edge(case):
    """One edge case of volume assembly (`mambanode samples edge --help` lists them)."""

    def make(ctx, folder):
        cli(ctx, "samples", "edge", folder, "--case", case)
        return Made([folder])

    return make


def gunzipped(relative, data=NIBABEL_DICOM):
    """A gzipped DICOM test file, unpacked as it is (UIDs kept)."""

    def make(ctx, folder):
        path = os.path.join(data, relative)
        if not os.path.exists(path):
            raise RuntimeError(f"{path} is missing (Scripts/bootstrap installs nibabel)")
        os.makedirs(folder)
        target = os.path.join(folder, os.path.basename(relative).removesuffix(".gz"))
        with gzip.open(path) as f, open(target, "wb") as out:
            out.write(f.read())
        return Made([folder])

    return make


def renewed(paths, folder, edit=None):
    """Copies of DICOM files under fresh Study/Series/SOP Instance UIDs (one series), optionally
    edited per file (`edit(index, ds)` returning False drops the file). Real test files share
    UIDs across their codec variants; renewing keeps each variant a series of its own. Pixel
    Data is written back as read (encapsulated frames stay compressed)."""
    os.makedirs(folder, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    for index, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        if edit is not None and edit(index, ds) is False:
            continue
        ds.save_as(os.path.join(folder, f"{index:04d}.dcm"), enforce_file_format=True)
    return Made([folder])


def real(*relative, data=PYDICOM_FILES, renew=True):
    """Files shipped by pydicom / pydicom-data, pushed as they are or under fresh UIDs."""

    def make(ctx, folder):
        paths = []
        for r in relative:
            path = os.path.join(data, r)
            if not os.path.exists(path):
                raise RuntimeError(f"{path} is missing (Scripts/bootstrap installs pydicom and pydicom-data)")
            paths += files_in(path) if os.path.isdir(path) else [path]
        if renew:
            return renewed(paths, folder)
        os.makedirs(folder)
        for path in paths:
            shutil.copy(path, folder)
        return Made([folder])

    return make


def derived(edit, slices=12):
    """A phantom series edited with pydicom into a bad input."""

    def make(ctx, folder):
        plain = folder + "-plain"
        cli(ctx, "samples", "ct", plain, "--slices", str(slices), "--size", "32", "--spacing", "6", "--seed", "5")
        return renewed(files_in(plain), folder, edit)

    return make


def mixed_orientation(index, ds):
    if index % 2:  # every other slice sagittal: two stacks of six (PS3.3 C.7.6.2.1.1)
        ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]


def missing_slice(index, ds):
    return index != 5


def short_pixel_data(index, ds):
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]


def no_position(index, ds):
    del ds.ImagePositionPatient


def garbage():
    def make(ctx, folder):
        os.makedirs(folder)
        path = os.path.join(folder, "garbage.dcm")
        with open(path, "wb") as f:
            f.write(random.Random(7).randbytes(4096))
        return Made([path])

    return make


# The table -------------------------------------------------------------------------------


@dataclass
class Sample:
    name: str
    make: object
    expect: object
    via: str = "storescu"  # or "orthanc": Orthanc uploads it and C-STOREs it to the node
    calling: str = "MODALITY"  # storescu's calling AE title (routes may match on it)
    # "series": every series is one job; "study": one job of a study-level route over the sample's
    # series (one per channel); the route's model decides which SEG/SR the validators expect.
    level: str = "series"
    dice_min: float = None  # every label; asserted only when the model is a trained one
    mean_dice_min: float = None  # the model's mean Dice over all samples naming this bar; likewise
    # A node defect this sample shows, with where it is tracked: while the sample fails, its
    # checks print as one SKIP line naming the defect; once it passes, a FAIL asks to drop the flag.
    known_defect: str = None


def edge_renewed(case):
    """An edge case under fresh UIDs, so it is a series of its own beside `edge_sample(case)`."""

    def make(ctx, folder):
        plain = folder + "-plain"
        cli(ctx, "samples", "edge", plain, "--case", case)
        return renewed(files_in(plain), folder)

    return make


def edge_sample(case, expect):
    return Sample(f"edge case {case} (samples edge)", edge(case), expect)


def edge_cases_listed(binary):
    """The case names `mambanode samples edge --help` lists (lines "  name: summary — outcome")."""
    r = run([binary, "samples", "edge", "--help"])
    text = r.stdout.split("Cases", 1)[-1]
    return {m.group(1) for m in re.finditer(r"^  ([a-z0-9]+(?:-[a-z0-9]+)*): ", text, re.MULTILINE)}


SAMPLES = [
    # Phantom CT series in every transfer syntax the generator writes, then J2K via GDCM.
    Sample("phantom CT, Explicit VR Little Endian", phantom(EXPLICIT_LE, 1), Results()),
    Sample("phantom CT, Implicit VR Little Endian", phantom(IMPLICIT_LE, 2), Results()),
    Sample("phantom CT, JPEG-LS lossless", phantom(JPEG_LS, 3), Results()),
    Sample("phantom CT, JPEG lossless SV1", phantom(JPEG_SV1, 4), Results()),
    Sample("phantom CT, RLE lossless", phantom(RLE, 5), Results()),
    Sample("phantom CT, Deflated Explicit VR", phantom(DEFLATED, 6), Results()),
    Sample("phantom CT, JPEG 2000 lossless (gdcmconv)", phantom_jpeg2000(7), Results()),
    Sample("phantom CT sent by Orthanc as the modality", phantom(EXPLICIT_LE, 9), Results(), via="orthanc"),
    # Every output a destination may ask for (RTSTRUCT, GSPS, SC, KO besides SEG and SR): the
    # calling AE VIEWS routes to a destination taking all six (session.py); views.py checks them.
    Sample("every output: phantom CT", phantom(EXPLICIT_LE, 21), Results(), calling="VIEWS"),
    Sample("every output: double-oblique MR", edge_renewed("double-oblique-mr"), Results(), calling="VIEWS"),
    Sample("every output: non-square-pixel CT", edge_renewed("non-square-pixels"), Results(), calling="VIEWS"),
    Sample("every output: reversed slice order", edge_renewed("reversed-order"), Results(), calling="VIEWS"),
    # Varied abdomen phantoms with ground truth (seeds outside ct-organs' training seeds): the sample
    # models' bar (Samples/models/README.md), mean Dice ≥ 0.90 over the held-out set, and no label
    # of any phantom below 0.8 (the vertebra, smallest, is the lowest; ct-organs' held-out figures
    # are in its model card).
    Sample(
        "varied CT phantom with a liver lesion (seed 11)",
        phantom_with_truth(11, "yes"),
        Results(),
        dice_min=0.8,
        mean_dice_min=0.9,
    ),
    Sample(
        "varied CT phantom without lesion (seed 12)",
        phantom_with_truth(12, "no"),
        Results(),
        dice_min=0.8,
        mean_dice_min=0.9,
    ),
    # MR from real anatomy, through the MR route and its (untrained) brain model.
    Sample("MR brain from Colin27 (mricron-data)", mr_brain("colin27"), Results(), dice_min=0.9),
    Sample("MR brain from MNI152 (nilearn)", mr_brain("mni152"), Results(), dice_min=0.9, mean_dice_min=0.9),
    # Four sequences of one study fill the channels of the study-level route (4-input model).
    Sample(
        "four-sequence MR study (T1, T1CE, T2, FLAIR) via a study-level route",
        mr_study(),
        Results(),
        calling="MRSTUDY",
        level="study",
    ),
    # Every edge case of volume assembly (Samples/Generator/EdgeCase.swift), each with the outcome
    # `mambanode samples edge --help` gives for `mambanode volume`. Gantry tilt is the exception:
    # the volume assembles (resampled), but the SEG's frames reference the source frames with
    # Spatial Locations Preserved YES (PS3.3 C.7.6.1.1.3), so the node fails the job with Results'
    # typed gantryTilt error instead of encoding labels that lie off the source pixels.
    edge_sample("missing-slice", Rejected("missingSlice")),
    edge_sample("mixed-orientation", Rejected("mixedOrientation")),
    edge_sample("duplicate-position", Rejected("duplicatePosition")),
    edge_sample("single-slice", Rejected("singleSlice")),
    edge_sample("localizer", Results("excludedInstances")),
    edge_sample("two-echoes", Results("additionalStacks")),
    edge_sample("gantry-tilt", Rejected("gantryTilt")),
    edge_sample("enhanced-ct", Results()),
    edge_sample("enhanced-mr", Results()),
    edge_sample("per-frame-rescale", Results()),
    edge_sample("double-oblique-mr", Results()),
    edge_sample("sagittal-mr", Results()),
    edge_sample("reversed-order", Results()),
    edge_sample("monochrome1", Results()),
    edge_sample("non-square-pixels", Results()),
    edge_sample("axial-ct", Results()),
    edge_sample("coronal-mr", Results()),
    edge_sample("shuffled-files", Results()),
    edge_sample("unsigned-12bit", Results()),
    # Real files (pydicom, pydicom-data, nibabel).
    Sample(
        "real CT series dicomdirtests/98892001/CT5N (5 slices)",
        real("dicomdirtests/98892001/CT5N", renew=False),
        Results(),
    ),
    Sample(
        "real enhanced CT eCT_Supplemental.dcm (2 frames, DERIVED)",
        real("eCT_Supplemental.dcm", data=PYDICOM_DATA, renew=False),
        # A parametric (perfusion) map: the sample models run on ORIGINAL images only
        # (model.json accepted_image_types), so the job is refused naming the Image Type.
        Rejected("Image Type DERIVED"),
    ),
    Sample(
        "real CT series dicomdirtests/77654033/CT2 (slices missing)",
        real("dicomdirtests/77654033/CT2", renew=False),
        Rejected("missingSlice"),
    ),
    Sample(
        "real MR series dicomdirtests/98892003/MR700 (projection images)",
        real("dicomdirtests/98892003/MR700", renew=False),
        Rejected("noImages"),
    ),
    Sample("real CT_small.dcm (single slice)", real("CT_small.dcm", renew=False), Rejected("singleSlice")),
    Sample("real CT 693_J2KI.dcm (JPEG 2000, single slice)", real("693_J2KI.dcm"), Rejected("singleSlice")),
    Sample("real MR_small.dcm (single slice)", real("MR_small.dcm"), Rejected("singleSlice")),
    Sample("real MR_small_implicit.dcm", real("MR_small_implicit.dcm"), Rejected("singleSlice")),
    Sample("real MR_small_RLE.dcm", real("MR_small_RLE.dcm"), Rejected("singleSlice")),
    Sample("real MR_small_jpeg_ls_lossless.dcm", real("MR_small_jpeg_ls_lossless.dcm"), Rejected("singleSlice")),
    Sample(
        "real enhanced MR emri_small.dcm (no functional groups)",
        real("emri_small.dcm", data=PYDICOM_DATA),
        Rejected("noImages"),
    ),
    Sample("real enhanced MR emri_small_RLE.dcm", real("emri_small_RLE.dcm", data=PYDICOM_DATA), Rejected("noImages")),
    Sample(
        "real enhanced MR emri_small_jpeg_ls_lossless.dcm",
        real("emri_small_jpeg_ls_lossless.dcm", data=PYDICOM_DATA),
        Rejected("noImages"),
    ),
    Sample(
        "real enhanced MR emri_small_jpeg_2k_lossless.dcm",
        real("emri_small_jpeg_2k_lossless.dcm", data=PYDICOM_DATA),
        Rejected("noImages"),
    ),
    # A Siemens mosaic (64 slices tiled in one 896 × 896 image): the node does not unpack
    # mosaics (CSA header), so it is one slice and rejected as such.
    Sample(
        "real Siemens mosaic siemens_dwi_1000.dcm.gz (nibabel)",
        gunzipped("siemens_dwi_1000.dcm.gz"),
        Rejected("singleSlice"),
    ),
    # Bad inputs made from a phantom with pydicom: rejected or reported, the node keeps running.
    Sample("mixed orientations (half the slices sagittal)", derived(mixed_orientation), Results("additionalStacks")),
    Sample("missing slice (slice 6 of 12 deleted)", derived(missing_slice), Rejected("missingSlice")),
    Sample("malformed: Pixel Data shorter than Rows × Columns", derived(short_pixel_data), Rejected("Pixel Data")),
    Sample("malformed: no Image Position (Patient)", derived(no_position), Rejected("ImagePositionPatient")),
    Sample("malformed: random bytes", garbage(), Refused()),
    Sample("malformed: truncated file MR_truncated.dcm", real("MR_truncated.dcm", renew=False), Refused()),
]
