"""The table of samples the harness pushes to the node, one entry per sample class (issue 7
item 1), each with how it is made, how it reaches the node and what the node must do with it.

Adding a sample class is adding one `Sample(...)` to `SAMPLES`. Entries for generator
subcommands that are not there yet name them in `requires`: the harness prints a SKIP line for
them (not counted as passed) until `mambanode samples --help` lists the subcommand."""
import json
import os
import random
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
    truth: dict = None   # {"labels": NIfTI path on the series grid, "names": {"1": "liver", ...}}


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
        cli(ctx, "samples", "ct", folder, "--slices", str(slices), "--size", str(size), "--spacing", "6",
            "--transfer-syntax", syntax, "--seed", str(seed))
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
    """The varied phantom with its ground-truth labels on the series grid (samples branch)."""
    def make(ctx, folder):
        labels, truth = folder + "-labels.nii.gz", folder + "-truth.json"
        cli(ctx, "samples", "ct", folder, "--slices", "24", "--size", "64", "--spacing", "5", "--seed", str(seed),
            "--lesion", lesion, "--labels", labels, "--truth", truth)
        return Made([folder], {"labels": labels, "names": json.load(open(truth))["labels"]})
    return make


def mr_brain(source):
    """An MR series resampled from a real brain (Colin27 / MNI152) with its brain mask as truth."""
    def make(ctx, folder):
        labels = folder + "-labels.nii.gz"
        cli(ctx, "samples", "mr", folder, "--source", source, "--size", "64", "--slices", "24", "--labels", labels)
        return Made([folder], {"labels": labels, "names": {"1": "brain"}})
    return make


def mr_study():
    def make(ctx, folder):
        cli(ctx, "samples", "mr-study", folder, "--source", "colin27")
        return Made([folder])
    return make


def edge(case):
    def make(ctx, folder):
        cli(ctx, "samples", "edge", folder, "--case", case)
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
    via: str = "storescu"           # or "orthanc": Orthanc uploads it and C-STOREs it to the node
    requires: tuple = ()             # capabilities ("samples mr", "samples edge missing-slice", "pydicom-data")
    model: str = "untrained"         # MODELS key of the route's model
    dice_min: float = None           # asserted only when the model is a trained one
    # A node defect this sample shows, with where it is tracked: while the sample fails, its
    # checks print as one SKIP line naming the defect; once it passes, a FAIL asks to drop the flag.
    known_defect: str = None


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
    # Samples of the generator's new classes (samples branch): ground truth, Dice reported.
    Sample("varied CT phantom with a liver lesion", phantom_with_truth(11, "yes"), Results(),
           requires=("samples ct --labels",), dice_min=0.7),
    Sample("varied CT phantom without lesion", phantom_with_truth(12, "no"), Results(),
           requires=("samples ct --labels",), dice_min=0.7),
    Sample("MR brain from Colin27", mr_brain("colin27"), Results(), requires=("samples mr",)),
    Sample("MR brain from MNI152", mr_brain("mni152"), Results(), requires=("samples mr",)),
    Sample("four-sequence MR study (T1, T1CE, T2, FLAIR)", mr_study(), Results(), requires=("samples mr-study",)),
    Sample("edge case: missing slice (generator)", edge("missing-slice"), Rejected("missingSlice"),
           requires=("samples edge missing-slice",)),
    Sample("edge case: mixed orientation (generator)", edge("mixed-orientation"), Results("additionalStacks"),
           requires=("samples edge mixed-orientation",)),
    Sample("edge case: duplicate position (generator)", edge("duplicate-position"), Rejected("duplicatePosition"),
           requires=("samples edge duplicate-position",)),
    Sample("edge case: localizer mixed in (generator)", edge("localizer"), Results(),
           requires=("samples edge localizer",)),
    Sample("edge case: gantry tilt (generator)", edge("tilt"), Results("gantryTilt"),
           requires=("samples edge tilt",)),
    Sample("edge case: enhanced multi-frame CT (generator)", edge("enhanced"), Results(),
           requires=("samples edge enhanced",)),
    # Real files (pydicom, pydicom-data).
    Sample("real CT series dicomdirtests/98892001/CT5N (5 slices)", real("dicomdirtests/98892001/CT5N", renew=False),
           Results()),
    Sample("real enhanced CT eCT_Supplemental.dcm (2 frames, DERIVED)",
           real("eCT_Supplemental.dcm", data=PYDICOM_DATA, renew=False), Results("derivedImages"),
           requires=("pydicom-data",),
           known_defect="the SEG encoder fails on this source: 'building the segmentation: Invalid Object' "
                        "(dcmseg's writeDataset; reproduce: mambanode process on eCT_Supplemental.dcm)"),
    Sample("real CT series dicomdirtests/77654033/CT2 (slices missing)", real("dicomdirtests/77654033/CT2", renew=False),
           Rejected("missingSlice")),
    Sample("real CT_small.dcm (single slice)", real("CT_small.dcm", renew=False), Rejected("singleSlice")),
    Sample("real CT 693_J2KI.dcm (JPEG 2000, single slice)", real("693_J2KI.dcm"), Rejected("singleSlice")),
    Sample("real MR_small.dcm (single slice)", real("MR_small.dcm"), Rejected("singleSlice")),
    Sample("real MR_small_implicit.dcm", real("MR_small_implicit.dcm"), Rejected("singleSlice")),
    Sample("real MR_small_RLE.dcm", real("MR_small_RLE.dcm"), Rejected("singleSlice")),
    Sample("real MR_small_jpeg_ls_lossless.dcm", real("MR_small_jpeg_ls_lossless.dcm"), Rejected("singleSlice")),
    Sample("real enhanced MR emri_small.dcm (no functional groups)", real("emri_small.dcm", data=PYDICOM_DATA),
           Rejected("noImages"), requires=("pydicom-data",)),
    Sample("real enhanced MR emri_small_RLE.dcm", real("emri_small_RLE.dcm", data=PYDICOM_DATA),
           Rejected("noImages"), requires=("pydicom-data",)),
    Sample("real enhanced MR emri_small_jpeg_ls_lossless.dcm", real("emri_small_jpeg_ls_lossless.dcm", data=PYDICOM_DATA),
           Rejected("noImages"), requires=("pydicom-data",)),
    Sample("real enhanced MR emri_small_jpeg_2k_lossless.dcm",
           real("emri_small_jpeg_2k_lossless.dcm", data=PYDICOM_DATA), Rejected("noImages"), requires=("pydicom-data",)),
    # Bad inputs made from a phantom with pydicom: rejected or reported, the node keeps running.
    Sample("mixed orientations (half the slices sagittal)", derived(mixed_orientation), Results("additionalStacks")),
    Sample("missing slice (slice 6 of 12 deleted)", derived(missing_slice), Rejected("missingSlice")),
    Sample("malformed: Pixel Data shorter than Rows × Columns", derived(short_pixel_data), Rejected("Pixel Data")),
    Sample("malformed: no Image Position (Patient)", derived(no_position), Rejected("ImagePositionPatient")),
    Sample("malformed: random bytes", garbage(), Refused()),
    Sample("malformed: truncated file MR_truncated.dcm", real("MR_truncated.dcm", renew=False), Refused()),
]


class Capabilities:
    """What this checkout's generator and venv offer, probed once from `--help` output."""

    def __init__(self, binary):
        self.binary = binary
        self.cache = {}

    def help(self, *args):
        if args not in self.cache:
            r = run([self.binary, *args, "--help"])
            self.cache[args] = r.stdout + r.stderr if r.returncode == 0 else ""
        return self.cache[args]

    @staticmethod
    def subcommands(text):
        names, inside = set(), False
        for line in text.splitlines():
            if line.startswith("SUBCOMMANDS:"):
                inside = True
            elif inside and line.startswith("  ") and line.strip():
                names.add(line.split()[0])
            elif inside and line and not line.startswith(" "):
                inside = False
        return names

    def has(self, capability):
        words = capability.split()
        if capability == "pydicom-data":
            return os.path.isdir(PYDICOM_DATA)
        if words[:1] == ["samples"] and len(words) >= 2:
            if words[1] not in self.subcommands(self.help("samples")):
                return False
            if len(words) == 3 and words[2].startswith("--"):
                return words[2] in self.help("samples", words[1])
            if len(words) == 3:  # an edge case name listed in `samples edge --help`
                return words[2] in self.help("samples", words[1])
            return True
        return False

    def missing(self, requires):
        return [c for c in requires if not self.has(c)]
