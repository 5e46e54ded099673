"""The checks run on every result the node delivers (docs/conformance.md): the validators of dicom3tools
(dciodvfy, dcentvfy) and DCMTK (dsrdump), and two independent SEG readers (highdicom, dcmqi)
whose read-back must equal the label map the model gives for the same series, compared in world
(patient) coordinates. Each check prints one line through the report; a reader or tool that
raises becomes a FAIL line with the reason, never a crash of the harness."""

import glob
import json
import os
import shutil
import traceback

import highdicom as hd
import nibabel
import numpy as np
import pydicom

from .peers import run

VENV_BIN = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".venv", "bin")
SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
VOLUME = "118565006"  # SCT Volume (TID 1411)
PROBABILITY = "122157"  # DCM Probability of finding
DISTANCE = "121206"  # DCM Distance
# NIfTI's affine is RAS; DICOM patient coordinates are LPS (PS3.3 C.7.6.2.1.1).
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def error_lines(output):
    return [line for line in output.splitlines() if line.startswith("Error")]


class Expected:
    """What the model gives for the source series, independently of the node's DICOM path:
    `mambanode volume` → NIfTI → `mambanode infer`. `labels` is the label map on the source grid
    (segmentation), `report` infer's JSON (landmarks, classification)."""

    def __init__(self, manifest, labels_path=None, report=None):
        self.manifest = manifest
        self.names = {int(label["value"]): label["name"] for label in manifest.get("labels", [])}
        self.report = report or {}
        self.labels = self.affine = None
        if labels_path:
            image = nibabel.load(labels_path)
            # nibabel's array is (i, j, k) = (column, row, slice) of the source grid.
            self.labels = np.rint(np.asarray(image.dataobj)).astype(np.int32)
            self.affine = RAS_TO_LPS @ image.affine
            self.voxel_volume = float(abs(np.linalg.det(self.affine[:3, :3])))

    @property
    def task(self):
        return self.manifest.get("task", "segmentation")

    @staticmethod
    def compute(binary, model_dir, sources, work):
        """Runs the CLI on the input series, [(folder, series uid)] in the model's input order (all
        on one grid, as the series of one study are); returns (Expected, error text)."""
        manifest = json.load(open(os.path.join(model_dir, "model.json")))
        volumes = []
        for index, (series_folder, series_uid) in enumerate(sources):
            volume = f"{work}/volume-{index}.nii.gz"
            r = run([binary, "volume", series_folder, "--series", series_uid, "--nifti", volume])
            if r.returncode != 0:
                return None, "mambanode volume: " + r.stderr
            volumes += ["--input", volume]
        labels = f"{work}/expected-labels.nii.gz" if manifest.get("task", "segmentation") == "segmentation" else None
        r = run([binary, "infer", "--model", model_dir, *volumes] + (["--output", labels] if labels else []))
        if r.returncode != 0:
            return None, "mambanode infer: " + r.stderr
        return Expected(manifest, labels, json.loads(r.stdout)), ""

    def world_to_index(self, world):
        """Continuous (i, j, k) indices of LPS points (N×3) on the expected grid."""
        inverse = np.linalg.inv(self.affine)
        return (inverse[:3, :3] @ world.T).T + inverse[:3, 3]

    def mask_count(self, value):
        return int(np.count_nonzero(self.labels == value))


class Validator:
    """Validates one delivered result (SEG and/or SR) of one source series."""

    def __init__(self, report, name, sources, results, expected=None, truth=None, dice_min=None, work=None):
        self.report, self.name = report, name
        self.sources, self.results = sources, results
        self.expected, self.truth, self.dice_min = expected, truth, dice_min
        self.dice_scores = {}  # label name -> Dice, once dice() ran on the same grid
        self.work = work
        self.datasets = {path: pydicom.dcmread(path) for path in results}
        self.seg_path = next((p for p, ds in self.datasets.items() if ds.SOPClassUID == SEGMENTATION_STORAGE), None)
        self.sr_path = next((p for p, ds in self.datasets.items() if ds.Modality == "SR"), None)
        self.seg_counts = {}  # segment number → voxels, from highdicom

    def check(self, what, ok, detail=""):
        return self.report.check(f"{self.name}: {what}", ok, detail)

    def guarded(self, what, body):
        """Runs one check body; an exception is that check's failure, with its last frames."""
        try:
            ok, detail = body()
        except Exception as error:  # a reader rejecting our object is exactly what we look for
            ok, detail = False, f"{type(error).__name__}: {error} | {traceback.format_exc(limit=-2)}"
        return self.check(what, ok, detail)

    def all(self):
        for path in self.results:
            kind = self.datasets[path].Modality
            r = run(["dciodvfy", path])
            self.check(
                f"dciodvfy {kind} no errors",
                r.returncode in (0, 1) and not error_lines(r.stdout + r.stderr),
                "dciodvfy " + " | ".join(error_lines(r.stdout + r.stderr)[:4]),
            )
        r = run(["dcentvfy", *self.readable_sources(), *self.results])
        self.check(
            "dcentvfy over source + results no errors",
            not error_lines(r.stdout + r.stderr),
            "dcentvfy " + " | ".join(error_lines(r.stdout + r.stderr)[:4]),
        )
        if self.sr_path:
            r = run(["dsrdump", self.sr_path])
            self.check("dsrdump reads the SR (exit 0)", r.returncode == 0, "dsrdump " + r.stderr)
        if self.seg_path:
            self.guarded("highdicom reads the SEG; frames reference only source images", self.highdicom_seg)
            if self.expected is not None and self.expected.labels is not None:
                self.guarded("highdicom SEG equals the model's label map in world coordinates", self.highdicom_world)
                self.guarded(
                    "dcmqi segimage2itkimage equals the model's label map in world coordinates", self.dcmqi_world
                )
        if self.sr_path:
            self.guarded("highdicom reads the TID 1500 SR (groups reference the SEG's segments)", self.highdicom_sr)
        if self.truth is not None and self.expected is not None and self.expected.labels is not None:
            self.dice()

    def readable_sources(self):
        """dicom3tools cannot read deflated files: dcentvfy gets those re-encoded (DCMTK's dcmconv)."""
        paths = []
        for index, path in enumerate(self.sources):
            with open(path, "rb") as f:
                head = f.read(1024)
            if b"1.2.840.10008.1.2.1.99" in head:
                plain = f"{self.work}/inflated-{index}.dcm"
                if run(["dcmconv", "+te", path, plain]).returncode == 0:
                    path = plain
            paths.append(path)
        return paths

    # SEG ------------------------------------------------------------------------------------

    def segment_values(self, ds):
        """SEG segment number → model label value, matched by segment label (model.json names)."""
        by_name = {name.lower(): value for value, name in self.expected.names.items()} if self.expected else {}
        mapping = {}
        for item in ds.SegmentSequence:
            label = str(item.SegmentLabel).lower()
            mapping[int(item.SegmentNumber)] = by_name.get(label, int(item.SegmentNumber))
        return mapping

    def highdicom_seg(self):
        ds = self.datasets[self.seg_path]
        seg = hd.seg.Segmentation.from_dataset(ds)
        sources = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in self.sources}
        refs = {
            r.ReferencedSOPInstanceUID
            for f in ds.PerFrameFunctionalGroupsSequence
            for d in f.DerivationImageSequence
            for r in d.SourceImageSequence
        }
        problems = []
        if not refs <= sources:
            problems.append(
                f"{len(refs - sources)} frame reference(s) to instances outside the source series, "
                f"e.g. {sorted(refs - sources)[0]}"
            )
        if self.expected is not None and self.expected.names and len(seg.SegmentSequence) != len(self.expected.names):
            problems.append(f"{len(seg.SegmentSequence)} segments, the model has {len(self.expected.names)} labels")
        return not problems, "; ".join(problems)

    def highdicom_world(self):
        ds = self.datasets[self.seg_path]
        seg = hd.seg.Segmentation.from_dataset(ds)
        numbers = [int(item.SegmentNumber) for item in ds.SegmentSequence]
        values = self.segment_values(ds)
        volume = seg.get_volume(combine_segments=False, segment_numbers=numbers)
        array = np.asarray(volume.array).astype(bool)  # (slice, row, column, segment) in highdicom's order
        shape = array.shape[:3]
        # Every highdicom voxel centre → LPS → the expected grid; must land on a voxel centre.
        idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).reshape(-1, 3)
        world = (volume.affine[:3, :3] @ idx.T).T + volume.affine[:3, 3]
        continuous = self.expected.world_to_index(world)
        target = np.rint(continuous).astype(int)
        off_grid = int(np.count_nonzero(np.abs(continuous - target).max(axis=1) > 1e-3))
        labels = self.expected.labels
        inside = np.all((target >= 0) & (target < np.array(labels.shape)), axis=1)
        problems = []
        if off_grid:
            problems.append(f"{off_grid} voxel centres are off the source grid")
        flat = array.reshape(-1, len(numbers))
        for s, number in enumerate(numbers):
            value = values[number]
            got = flat[:, s]
            want = np.zeros_like(got)
            want[inside] = labels[tuple(target[inside].T)] == value
            diff = int(np.count_nonzero(got != want))
            # The SEG may cover less than the series (empty frames omitted), never other voxels.
            missing = self.expected.mask_count(value) - int(np.count_nonzero(want))
            self.seg_counts[number] = int(np.count_nonzero(got))
            if diff or missing:
                problems.append(
                    f"segment {number} ({self.expected.names.get(value, '?')}): {diff} voxels differ, "
                    f"{missing} labelled voxels outside the SEG's volume"
                )
        return not problems, "; ".join(problems)

    def dcmqi_world(self):
        out = f"{self.work}/dcmqi"
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        r = run(
            [
                os.path.join(VENV_BIN, "segimage2itkimage"),
                "--inputDICOM",
                self.seg_path,
                "--outputDirectory",
                out,
                "--outputType",
                "nifti",
            ]
        )
        if r.returncode != 0:
            return False, "segimage2itkimage: " + (r.stdout + r.stderr)[-400:]
        ds = self.datasets[self.seg_path]
        values = self.segment_values(ds)
        labels = self.expected.labels
        problems = []
        for item in ds.SegmentSequence:
            number = int(item.SegmentNumber)
            value = values[number]
            path = f"{out}/{number}.nii.gz"
            expected_count = self.expected.mask_count(value)
            if not os.path.exists(path):
                # dcmqi writes no image for a segment without frames.
                if expected_count:
                    problems.append(f"segment {number}: {expected_count} labelled voxels but dcmqi wrote no image")
                continue
            image = nibabel.load(path)
            mask = np.asarray(image.dataobj) != 0
            affine = RAS_TO_LPS @ image.affine
            idx = np.argwhere(np.ones(mask.shape, bool))
            world = (affine[:3, :3] @ idx.T).T + affine[:3, 3]
            continuous = self.expected.world_to_index(world)
            target = np.rint(continuous).astype(int)
            off_grid = int(np.count_nonzero(np.abs(continuous - target).max(axis=1) > 1e-3))
            inside = np.all((target >= 0) & (target < np.array(labels.shape)), axis=1)
            got = mask[tuple(idx.T)]
            want = np.zeros_like(got)
            want[inside] = labels[tuple(target[inside].T)] == value
            diff = int(np.count_nonzero(got != want))
            marked = int(np.count_nonzero(got))
            if off_grid or diff or marked != expected_count:
                problems.append(
                    f"segment {number}: {off_grid} voxel centres off the source grid, {diff} voxels differ, "
                    f"{marked} marked vs {expected_count} expected"
                )
        return not problems, "; ".join(problems)

    # SR -------------------------------------------------------------------------------------

    def highdicom_sr(self):
        sr = hd.sr.Comprehensive3DSR.from_dataset(self.datasets[self.sr_path])
        report = sr.content
        if not isinstance(report, hd.sr.MeasurementReport):
            return False, f"content is {type(report).__name__}, not a TID 1500 Measurement Report"
        problems = []
        groups = report.get_volumetric_roi_measurement_groups()
        if self.seg_path:
            seg = self.datasets[self.seg_path]
            numbers = {int(item.SegmentNumber) for item in seg.SegmentSequence}
            if len(groups) != len(numbers):
                problems.append(f"{len(groups)} volumetric groups for {len(numbers)} segments")
            voxel = (
                self.expected.voxel_volume if self.expected is not None and self.expected.labels is not None else None
            )
            for group in groups:
                segment = group.referenced_segment
                if segment.referenced_sop_instance_uid != seg.SOPInstanceUID:
                    problems.append(f"{group.tracking_identifier}: references {segment.referenced_sop_instance_uid}")
                    continue
                number = int(segment.referenced_segment_numbers[0])
                volumes = [m for m in group.get_measurements() if m.name.value == VOLUME]
                if len(volumes) != 1 or volumes[0].unit.value != "mm3":
                    problems.append(f"{group.tracking_identifier}: no single volume in mm3")
                    continue
                if voxel is not None and number in self.seg_counts:
                    # The SR's volume is the SEG's voxel count × voxel volume, to the rounding of one voxel.
                    want = self.seg_counts[number] * voxel
                    if abs(volumes[0].value - want) > max(0.5 * voxel, 1e-6 * want):
                        problems.append(
                            f"segment {number}: SR volume {volumes[0].value:.3f} mm3 != "
                            f"{self.seg_counts[number]} SEG voxels × {voxel:.4f} mm3 = {want:.3f}"
                        )
        if self.expected is not None:
            problems += self.sr_matches_infer(report)
        return not problems, "; ".join(problems)

    def sr_matches_infer(self, report):
        """Classification and landmarks in the SR equal what `mambanode infer` printed."""
        problems = []
        result = self.expected.report
        groups = report.get_image_measurement_groups()
        if result.get("probability") is not None:
            probabilities = [m.value for g in groups for m in g.get_measurements() if m.name.value == PROBABILITY]
            if not any(abs(p - result["probability"]) < 1e-4 for p in probabilities):
                problems.append(f"classification probability {probabilities} != infer's {result['probability']}")
        for name, landmark in (result.get("landmarks") or {}).items():
            points = [
                item
                for g in groups
                if str(g.tracking_identifier) == name
                for item in g[0].ContentSequence
                if item.value_type == hd.sr.ValueTypeValues.SCOORD3D
            ]
            if len(points) != 1 or not np.allclose(points[0].value.ravel(), landmark["lps"], atol=1e-3):
                problems.append(
                    f"landmark {name}: SR {[p.value.ravel().tolist() for p in points]} != infer {landmark['lps']}"
                )
        return problems

    # Ground truth ---------------------------------------------------------------------------

    def dice(self):
        """Dice of the model's labels against the sample's ground truth, per label name both share.
        Reported always; asserted (every label ≥ dice_min) only for a trained model. The scores stay
        in `dice_scores` for the session's held-out figure over several samples."""
        truth_image = nibabel.load(self.truth["labels"])
        truth = np.rint(np.asarray(truth_image.dataobj)).astype(np.int32)
        names = {name.lower(): int(value) for value, name in self.truth.get("names", {}).items()}
        scores = {}
        same_grid = truth.shape == self.expected.labels.shape and np.allclose(
            RAS_TO_LPS @ truth_image.affine, self.expected.affine, atol=1e-3
        )
        if same_grid:
            for value, name in self.expected.names.items():
                if name.lower() in names:
                    a, b = self.expected.labels == value, truth == names[name.lower()]
                    total = int(a.sum() + b.sum())
                    scores[name] = 2.0 * int(np.count_nonzero(a & b)) / total if total else 1.0
        self.dice_scores = scores
        text = ", ".join(f"{n} {s:.3f}" for n, s in scores.items()) or "no label shared with the ground truth"
        if not same_grid:
            self.check(
                "ground truth labels lie on the series grid",
                False,
                f"truth {truth.shape} vs {self.expected.labels.shape}",
            )
        elif self.dice_min is not None:
            self.check(
                f"Dice vs ground truth ≥ {self.dice_min} ({text})",
                scores and min(scores.values()) >= self.dice_min,
                text,
            )
        else:
            self.report.info(f"{self.name}: Dice vs ground truth (untrained model: reported, not asserted): {text}")


def validate_only(report, binary, sources, results, model=None, work=None):
    """`Conformance/run --validate-only`: the validators on given files, without peers."""
    expected = None
    if model and binary:
        uid = pydicom.dcmread(sources[0], stop_before_pixels=True).SeriesInstanceUID
        folder = f"{work}/sources"
        os.makedirs(folder, exist_ok=True)
        for path in sources:
            shutil.copy(path, folder)
        expected, error = Expected.compute(binary, model, [(folder, uid)], work)
        report.check("expected labels from mambanode volume + infer", expected is not None, error)
    Validator(report, "given files", sources, results, expected, work=work).all()


def sources_in(paths):
    files = []
    for path in paths:
        files += (
            sorted(p for p in glob.glob(f"{path}/**", recursive=True) if os.path.isfile(p))
            if os.path.isdir(path)
            else [path]
        )
    return files
