"""The checks of the second DICOM stack (docs/conformance.md): pynetdicom as the modality
(calling AE PYMODALITY, whose CT series the `pynetdicom-ct` route sends to both PACSes) and as
a PACS (pynetdicom_peers.PynetdicomPACS). Run after the sample table, on the Session's node,
Orthanc, models and report; every check's name starts `pynetdicom: `.

What DCMTK and Orthanc alone would not show: Specific Character Sets other than the default
carried into the results, an association of 128 presentation contexts, an A-ABORT in the middle
of a series followed by a full re-send (a result must never be computed on the fragment), and
objects no route handles reaching a final state."""

import datetime
import os
import re
import time

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from .peers import run, wait_for
from .pynetdicom_peers import PynetdicomModality, status_text, stored
from .samples import cli, files_in, renewed
from .validators import SEGMENTATION_STORAGE, Expected, Validator

PREFIX = "pynetdicom: "
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
RT_PLAN, ENCAPSULATED_PDF, BASIC_TEXT_SR = (
    "1.2.840.10008.5.1.4.1.1.481.5",
    "1.2.840.10008.5.1.4.1.1.104.1",
    "1.2.840.10008.5.1.4.1.1.88.11",
)
# The route the session configures for PYMODALITY's CT series; its quiet time in seconds.
ROUTE_QUIET_TIME = 1.0
# Synthetic patient names in two Specific Character Sets (PS3.5 6.1.2.5 and Annex H / PS3.5 H.3.1
# for ISO 2022 IR 87 with its escape sequences; ISO_IR 192 is UTF-8, PS3.5 6.1.2.3). Each is an
# alphabetic=ideographic(=phonetic) Person Name (PS3.5 6.2.1.2).
CHARSETS = [
    ("ISO 2022 IR 87 (Japanese) series", ["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎=やまだ^たろう", "PYNJP0001"),
    ("ISO_IR 192 (UTF-8) series", "ISO_IR 192", "Wang^XiaoDong=王^小東", "PYNUTF0001"),
]
ABORT_SERIES, ABORT_AFTER, ABORT_WAIT = 64, 30, 3.0


def source_uids(paths):
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in paths}


def referenced_series(ds):
    """The series a result names as its source: a SEG's Referenced Series Sequence (PS3.3 C.7.6.16
    Common Instance Reference), an SR's Current Requested Procedure Evidence (PS3.3 C.17.2)."""
    found = {str(s.SeriesInstanceUID) for s in ds.get("ReferencedSeriesSequence", [])}
    for study in ds.get("CurrentRequestedProcedureEvidenceSequence", []):
        found |= {str(s.SeriesInstanceUID) for s in study.get("ReferencedSeriesSequence", [])}
    return found


def seg_references(ds):
    """(instances of the Referenced Series Sequence, instances the frames' Derivation Image /
    Source Image Sequences name, PS3.3 C.7.6.16.2.6)."""
    listed = {
        str(i.ReferencedSOPInstanceUID)
        for s in ds.get("ReferencedSeriesSequence", [])
        for i in s.get("ReferencedInstanceSequence", [])
    }
    frames = {
        str(r.ReferencedSOPInstanceUID)
        for f in ds.get("PerFrameFunctionalGroupsSequence", [])
        for d in f.get("DerivationImageSequence", [])
        for r in d.get("SourceImageSequence", [])
    }
    return listed, frames


def conformance_tables(binary):
    """The SOP classes and transfer syntaxes `mambanode conformance tables` lists: (set, set)."""
    text = run([binary, "conformance", "tables"]).stdout
    sop, syntaxes = set(), set()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"[0-9.]+", cells[1]):
            (sop if len(cells) == 3 else syntaxes).add(cells[1])
    return sop, syntaxes


def route_names(config):
    """The route names of the node's configuration (Session.start writes each route as a
    two-space indented list item of `routes:`; channels are indented deeper)."""
    text = open(config).read().split("\nroutes:", 1)[-1]
    return re.findall(r"^  - \{? ?name: ([\w-]+)", text, re.MULTILINE)


# Objects no route handles: minimal valid datasets (dciodvfy reports no errors on them) ----------


def code(value, scheme, meaning):
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def composite(sop_class, modality, patient_id):
    """Patient, General Study, the series' Modality, General Equipment and SOP Common (PS3.3
    C.7.1.1, C.7.2.1, C.12.1) in a study and series of their own."""
    ds, now = Dataset(), datetime.datetime.now()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.InstanceCreationDate, ds.InstanceCreationTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Unrouted^Object", patient_id, "", "O"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.StudyDate, ds.StudyTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds.ReferringPhysicianName, ds.StudyID, ds.AccessionNumber = "", "1", ""
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = modality, 1, 1
    ds.Manufacturer = "MambaNode conformance harness"
    ds.ContentDate, ds.ContentTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    return ds


def rt_plan():
    """RT Plan IOD (PS3.3 A.20): RT General Plan with a treatment-device geometry, which needs no
    referenced structure set, and Approval."""
    ds = composite(RT_PLAN, "RTPLAN", "PYNRTPLAN1")
    del ds.ContentDate, ds.ContentTime
    ds.OperatorsName = ""
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = generate_uid(), ""
    ds.RTPlanLabel, ds.RTPlanDate, ds.RTPlanTime = "UNROUTED", ds.StudyDate, ds.StudyTime
    ds.RTPlanGeometry, ds.ApprovalStatus = "TREATMENT_DEVICE", "UNAPPROVED"
    return ds


def encapsulated_pdf():
    """Encapsulated PDF IOD (PS3.3 A.45.1): SC Equipment and Encapsulated Document (an empty PDF)."""
    ds = composite(ENCAPSULATED_PDF, "DOC", "PYNPDF0001")
    body = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )
    ds.ConversionType, ds.AcquisitionDateTime, ds.BurnedInAnnotation = "WSD", ds.ContentDate + ds.ContentTime, "YES"
    ds.DocumentTitle, ds.ConceptNameCodeSequence = "Unrouted", Sequence()
    ds.MIMETypeOfEncapsulatedDocument, ds.EncapsulatedDocumentLength = "application/pdf", len(body)
    ds.EncapsulatedDocument = body + b"\0" * (len(body) % 2)
    return ds


def basic_text_sr():
    """Basic Text SR IOD (PS3.3 A.35.1): a CONTAINER with one TEXT item."""
    ds = composite(BASIC_TEXT_SR, "SR", "PYNTEXTSR1")
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
    ds.ReferencedPerformedProcedureStepSequence, ds.PerformedProcedureCodeSequence = Sequence(), Sequence()
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = [code("11528-7", "LN", "Radiology Report")]
    text = Dataset()
    text.RelationshipType, text.ValueType, text.TextValue = "CONTAINS", "TEXT", "No route of the node handles this."
    text.ConceptNameCodeSequence = [code("121106", "DCM", "Comment")]
    ds.ContentSequence = [text]
    return ds


UNROUTED = [("RT Plan", rt_plan), ("Encapsulated PDF", encapsulated_pdf), ("Basic Text SR", basic_text_sr)]


class SecondStack:
    """The pynetdicom checks on a started Session (session.pypacs is the pynetdicom PACS)."""

    def __init__(self, session):
        self.session, self.node, self.report = session, session.node, session.report
        self.binary, self.pacs = session.binary, session.pypacs
        self.work = f"{session.work}/pynetdicom"
        self.modality = PynetdicomModality(self.node.port, self.node.ae_title)
        self.unrouted = {}  # label → dataset pushed

    def check(self, name, ok, detail=""):
        return self.report.check(PREFIX + name, ok, detail)

    def run(self):
        if not self.check(
            "the pynetdicom PACS listens (its destination and route are configured)",
            self.pacs is not None,
            "pynetdicom is not importable: Scripts/bootstrap installs it",
        ):
            return
        os.makedirs(self.work, exist_ok=True)
        self.tables = conformance_tables(self.binary)
        # The 128-context association stores the RT Plan; the objects no route handles are pushed
        # right after, so that their unrouted quiet time passes while the series are processed.
        for step in (
            self.many_contexts,
            self.push_unrouted,
            self.character_sets,
            self.abort_and_resend,
            self.unrouted_final,
            self.pacs_stored_everything,
        ):
            started = time.time()
            try:
                step()
            except Exception as error:  # a harness bug or a vanished peer fails this step, not the run
                self.check(
                    f"{step.__name__}: completed without a harness error", False, f"{type(error).__name__}: {error}"
                )
            self.report.info(f"{PREFIX}{step.__name__}: {time.time() - started:.1f} s")

    # Helpers --------------------------------------------------------------------------------

    def ct_series(self, name, slices, seed, edit=None):
        """A CT phantom (`mambanode samples ct`) under fresh Study/Series/SOP Instance UIDs, headers
        edited by `edit(index, ds)`; (folder, series uid, files in slice order)."""
        plain, folder = f"{self.work}/{name}-plain", f"{self.work}/{name}"
        cli(
            self.session,
            "samples",
            "ct",
            plain,
            "--slices",
            str(slices),
            "--size",
            "32",
            "--spacing",
            "6",
            "--seed",
            str(seed),
        )
        renewed(files_in(plain), folder, edit)
        paths = files_in(folder)
        return folder, str(pydicom.dcmread(paths[0], stop_before_pixels=True).SeriesInstanceUID), paths

    def series_record(self, uid):
        return next((s for s in self.node.api("series") if s["series_instance_uid"] == uid), None)

    def jobs_of(self, uid):
        return [j for j in self.node.api("jobs") if j["subject_uid"] == uid]

    def received_for(self, uid):
        """What the pynetdicom PACS holds for source series `uid`: [(Received, dataset)]."""
        found = []
        for entry in self.pacs.objects():
            ds = pydicom.dcmread(entry.path)
            if uid in referenced_series(ds):
                found.append((entry, ds))
        return found

    def push(self, label, paths, abort_after=None):
        datasets = [pydicom.dcmread(p) for p in paths]
        statuses, error = self.modality.store(datasets, abort_after)
        failed = [status_text(s) for s in statuses if not stored(s)]
        expected = len(datasets) if abort_after is None else abort_after
        return self.check(
            f"{label}: pushed by pynetdicom as PYMODALITY ({expected} of {len(datasets)} instances"
            f"{', then A-ABORT' if abort_after is not None else ', then A-RELEASE'})",
            not error and len(statuses) == expected and not failed,
            error or f"{len(statuses)} C-STOREs, statuses not Success: {failed[:5]}",
        )

    def follow(self, label, uid, seconds=180):
        """Waits for the series' final state and its outbox; the Session's outcome or None."""
        result = wait_for(lambda: self.session.outcome([uid], uid), seconds)
        state = result["series"]["state"] if result else (self.series_record(uid) or {}).get("state")
        self.check(
            f"{label}: the series ends done",
            result is not None and state == "done" and (result["job"] or {}).get("state") == "done",
            f"series …{uid[-8:]}: state {state}, job {result and result['job']}; " + self.node.log_tail(300),
        )
        return result if result is not None and state == "done" else None

    def results_at_pacs(self, label, uid):
        """The one SEG and one SR the pynetdicom PACS received for series `uid`, or None."""
        found = self.received_for(uid)
        segs = [(e, ds) for e, ds in found if e.sop_class == SEGMENTATION_STORAGE]
        srs = [(e, ds) for e, ds in found if ds.Modality == "SR"]
        if not self.check(
            f"{label}: exactly one SEG and one SR for the series reached the pynetdicom PACS",
            len(segs) == 1 and len(srs) == 1 and len(found) == 2,
            f"series …{uid[-8:]}: {len(segs)} SEG, {len(srs)} SR, {len(found)} objects in all",
        ):
            return None
        return segs[0], srs[0]

    def validate(self, label, folder, uid, sources, results):
        """The validators every sample's results get (validators.py), on what pynetdicom received."""
        model = self.session.models["ct-organs"]
        work = f"{self.work}/{re.sub(r'[^a-z0-9]+', '-', label.lower())}-validate"
        os.makedirs(work, exist_ok=True)
        expected, error = Expected.compute(self.binary, model["path"], [(folder, uid)], work)
        self.check(
            f"{label}: the model's own output for the series (mambanode volume + infer)", expected is not None, error
        )
        Validator(self.report, PREFIX + label, sources, results, expected, work=work).all()

    # 1. Character sets ----------------------------------------------------------------------

    def character_sets(self):
        """Patient's Name in ISO 2022 IR 87 and in UTF-8: the SEG and SR must carry the same name,
        with a Specific Character Set under which pydicom decodes it identically (PS3.3 C.12.1.1.2)."""
        pushed = []
        for seed, (label, charset, name, patient_id) in enumerate(CHARSETS, start=51):

            def edit(index, ds, charset=charset, name=name, patient_id=patient_id):
                ds.SpecificCharacterSet, ds.PatientName, ds.PatientID = charset, name, patient_id

            folder, uid, paths = self.ct_series(f"charset-{seed}", 12, seed, edit)
            self.session.patients |= {name, patient_id}
            if self.push(label, paths):
                pushed.append((label, name, folder, uid, paths))
        for label, name, folder, uid, paths in pushed:
            if not self.follow(label, uid):
                continue
            results = self.results_at_pacs(label, uid)
            if results is None:
                continue
            found = [(e.sop_class, ds.get("SpecificCharacterSet"), str(ds.PatientName)) for e, ds in results]
            # The name as the file's own Specific Character Set decodes it: str() of pydicom's PersonName.
            self.check(
                f"{label}: the SEG and SR carry the same Patient's Name, decoded identically under their "
                "Specific Character Set",
                all(found_name == name for _, _, found_name in found),
                f"expected {name!r}; found "
                + "; ".join(
                    f"{'SEG' if c == SEGMENTATION_STORAGE else 'SR'} charset {cs!r} name {n!r}" for c, cs, n in found
                ),
            )
            self.validate(label, folder, uid, paths, [e.path for e, _ in results])

    # 2. 128 presentation contexts -----------------------------------------------------------

    def proposed_contexts(self):
        """128 contexts, one transfer syntax each (PS3.8 9.3.2.2 allows at most 128): the classes
        the node meets most in every syntax it lists plus two it does not (HTJ2K lossless, MPEG2),
        padded with pynetdicom's other storage classes in Explicit VR Little Endian."""
        from pynetdicom import AllStoragePresentationContexts
        from pynetdicom import sop_class as sop

        classes = [
            sop.CTImageStorage,
            sop.MRImageStorage,
            sop.SegmentationStorage,
            sop.Comprehensive3DSRStorage,
            sop.EnhancedSRStorage,
            sop.EnhancedCTImageStorage,
            sop.EnhancedMRImageStorage,
            RT_PLAN,
            ENCAPSULATED_PDF,
            BASIC_TEXT_SR,
        ]
        syntaxes = [
            "1.2.840.10008.1.2.1",
            "1.2.840.10008.1.2",
            "1.2.840.10008.1.2.1.99",
            "1.2.840.10008.1.2.2",
            "1.2.840.10008.1.2.4.80",
            "1.2.840.10008.1.2.5",
            "1.2.840.10008.1.2.4.90",
            "1.2.840.10008.1.2.4.70",
            "1.2.840.10008.1.2.4.201",
            "1.2.840.10008.1.2.4.100",
        ]
        contexts = [(str(c), [ts]) for c in classes for ts in syntaxes]
        for cx in AllStoragePresentationContexts:
            if len(contexts) == 128:
                break
            if cx.abstract_syntax not in classes:
                contexts.append((str(cx.abstract_syntax), [ExplicitVRLittleEndian]))
        return contexts

    def many_contexts(self):
        """One association proposing 128 presentation contexts: accepted, each context accepted
        exactly when the node's conformance tables list its SOP class and transfer syntax, and a
        C-STORE over it succeeds (the RT Plan of the unrouted objects, sent again later)."""
        contexts = self.proposed_contexts()
        assoc = self.modality.associate(contexts)
        if not self.check(
            f"an association proposing {len(contexts)} presentation contexts is accepted",
            len(contexts) == 128 and assoc.is_established,
            f"{len(contexts)} proposed, established {assoc.is_established}",
        ):
            return
        try:
            accepted = {(str(cx.abstract_syntax), str(cx.transfer_syntax[0])) for cx in assoc.accepted_contexts}
            self.report.info(f"{PREFIX}{len(accepted)} of {len(contexts)} proposed presentation contexts accepted")
            sop, syntaxes = self.tables
            wrong = [(a, ts[0]) for a, ts in contexts if ((a, ts[0]) in accepted) != (a in sop and ts[0] in syntaxes)]
            self.check(
                "each of the 128 contexts is accepted exactly when `mambanode conformance tables` lists its "
                "SOP class and transfer syntax",
                not wrong,
                f"{len(wrong)} differ, e.g. "
                + ", ".join(f"{a} {ts} ({'accepted' if (a, ts) in accepted else 'rejected'})" for a, ts in wrong[:4]),
            )
            plan = rt_plan()
            self.unrouted["RT Plan"] = plan
            status = assoc.send_c_store(plan)
            self.check(
                "a C-STORE over the 128-context association succeeds (RT Plan)", stored(status), status_text(status)
            )
        finally:
            assoc.release()

    # 3 and 4. A-ABORT mid-series, full re-send; delivery to the pynetdicom PACS ---------------

    def abort_and_resend(self):
        """The hazard: a result computed on a partial series. 30 of 64 instances then A-ABORT; after
        more than twice the route's quiet time nothing may be queued (the series is interrupted,
        docs/node-behaviour.md section 2); the full re-send, normally released, makes one result
        on all 64 instances."""
        label = f"{ABORT_SERIES}-instance series re-sent after an A-ABORT"
        folder, uid, paths = self.ct_series("abort-resend", ABORT_SERIES, 61)
        if not self.push(f"{label} (first association)", paths, abort_after=ABORT_AFTER):
            return
        aborted = time.time()
        seen = []
        while time.time() < aborted + ABORT_WAIT:
            record = self.series_record(uid)
            if record:
                seen.append(
                    (
                        record["state"],
                        record["instance_count"],
                        record.get("may_be_incomplete"),
                        record.get("interruption"),
                    )
                )
            time.sleep(0.2)
        last = seen[-1] if seen else None
        self.check(
            f"{label}: after the A-ABORT the series holds {ABORT_AFTER} instances, receiving and marked "
            "interrupted (may_be_incomplete)",
            last is not None and last[:3] == ("receiving", ABORT_AFTER, True) and last[3],
            f"series …{uid[-8:]}: last seen (state, count, may_be_incomplete, interruption) {last}",
        )
        fragment_jobs = self.jobs_of(uid)
        self.check(
            f"{label}: no job for the {ABORT_AFTER}-instance fragment {ABORT_WAIT:.0f} s after the A-ABORT "
            f"(route quiet time {ROUTE_QUIET_TIME:.0f} s)",
            not fragment_jobs,
            f"series …{uid[-8:]}: jobs {[(j['id'], j['state'], j['version']) for j in fragment_jobs]}",
        )
        if not self.push(f"{label} (full re-send)", paths):
            return
        result = self.follow(label, uid)
        if result is None:
            return
        series = result["series"]
        self.check(
            f"{label}: the series holds all {ABORT_SERIES} instances and no longer says may_be_incomplete",
            series["instance_count"] == ABORT_SERIES
            and not series.get("may_be_incomplete")
            and not series.get("interruption"),
            f"series …{uid[-8:]}: {series['instance_count']} instances, may_be_incomplete "
            f"{series.get('may_be_incomplete')}, interruption {series.get('interruption')!r}",
        )
        jobs = self.jobs_of(uid)
        self.check(
            f"{label}: exactly one job and one result version (none for the fragment), without caveats",
            len(jobs) == 1 and series["version"] == 1 and jobs[0]["version"] == 1 and not jobs[0].get("caveats"),
            f"series …{uid[-8:]}: version {series['version']}, jobs "
            f"{[(j['id'], j['state'], j['version'], j.get('caveats')) for j in jobs]}",
        )
        results = self.results_at_pacs(label, uid)
        if results is None:
            return
        (seg_entry, seg), (sr_entry, sr) = results
        sources = source_uids(paths)
        listed, frames = seg_references(seg)
        self.check(
            f"{label}: the SEG references all {ABORT_SERIES} source instances (Referenced Series Sequence) "
            "and its frames only source instances",
            listed == sources and frames <= sources and frames,
            f"series …{uid[-8:]}: {len(listed & sources)} of {len(sources)} listed, {len(listed - sources)} "
            f"foreign; frames name {len(frames)} ({len(frames - sources)} foreign)",
        )
        self.report.info(
            f"{PREFIX}{label}: the SEG's frames derive from {len(frames)} of the {ABORT_SERIES} "
            "source instances (empty slices have no frame)"
        )
        self.delivery(label, uid, result, seg_entry, sr_entry)
        self.validate(label, folder, uid, paths, [seg_entry.path, sr_entry.path])

    def delivery(self, label, uid, result, seg_entry, sr_entry):
        """4. Right SOP classes at the pynetdicom PACS, and the outbox says sent to both PACSes."""
        self.check(
            f"{label}: the SEG arrived as Segmentation Storage and the SR as Comprehensive 3D SR Storage",
            seg_entry.sop_class == SEGMENTATION_STORAGE and sr_entry.sop_class == COMPREHENSIVE_3D_SR,
            f"SEG {seg_entry.sop_class}, SR {sr_entry.sop_class}",
        )
        self.report.info(
            f"{PREFIX}{label}: received from {seg_entry.calling} in {seg_entry.transfer_syntax} (SEG), "
            f"{sr_entry.transfer_syntax} (SR)"
        )
        outbox = {(o["sop_instance_uid"], o["destination"]): o["state"] for o in result["outbox"]}
        want = {(e.sop_instance, d) for e in (seg_entry, sr_entry) for d in (self.session.pypacs_destination, "pacs")}
        self.check(
            f"{label}: the node's outbox shows the SEG and SR sent to the pynetdicom PACS and to Orthanc",
            all(outbox.get(key) == "sent" for key in want),
            f"series …{uid[-8:]}: outbox {sorted((s[-8:], d, st) for (s, d), st in outbox.items())}",
        )

    # 5. Objects no route handles ------------------------------------------------------------

    def push_unrouted(self):
        """RT Plan, Encapsulated PDF and Basic Text SR in one association from PYMODALITY (the RT
        Plan again when the 128-context association stored it: the node keeps one copy). Classes
        the conformance tables do not list must be refused at negotiation instead."""
        for label, make in UNROUTED:
            self.unrouted.setdefault(label, make())
        self.session.patients |= {str(ds.PatientID) for ds in self.unrouted.values()}
        sop, _ = self.tables
        listed = [ds for ds in self.unrouted.values() if str(ds.SOPClassUID) in sop]
        refused = [label for label, ds in self.unrouted.items() if str(ds.SOPClassUID) not in sop]
        if refused:
            assoc = self.modality.associate(self.modality.contexts_for([self.unrouted[l] for l in refused]))
            self.check(
                f"{', '.join(refused)}: not listed in the conformance tables, so no context is accepted",
                not assoc.is_established or not assoc.accepted_contexts,
                f"accepted {[str(c.abstract_syntax) for c in assoc.accepted_contexts]}",
            )
            if assoc.is_established:
                assoc.release()
        if listed:
            statuses, error = self.modality.store(listed)
            self.check(
                f"{', '.join(l for l, ds in self.unrouted.items() if ds in listed)}: stored (C-STORE Success)",
                not error and len(statuses) == len(listed) and all(stored(s) for s in statuses),
                error or f"statuses {[status_text(s) for s in statuses]}",
            )
        self.unrouted_sent = time.time()

    def unrouted_final(self):
        """Each stored object reaches `unrouted` with a reason naming every route tried, within the
        node's unrouted quiet time plus 30 s; the node still answers C-ECHO."""
        sop, _ = self.tables
        stored_labels = {
            label: str(ds.SeriesInstanceUID) for label, ds in self.unrouted.items() if str(ds.SOPClassUID) in sop
        }
        routes = route_names(self.node.config)

        def final():
            records = {s["series_instance_uid"]: s for s in self.node.api("series")}
            found = {label: records.get(uid) for label, uid in stored_labels.items()}
            return found if all(r and r["state"] == "unrouted" for r in found.values()) else None

        wait = self.session.unrouted_quiet_time + 30
        found = wait_for(final, max(1.0, self.unrouted_sent + wait - time.time()), interval=0.5)
        if found is None:
            records = {s["series_instance_uid"]: s for s in self.node.api("series")}
            found = {label: records.get(uid) for label, uid in stored_labels.items()}
        for label, uid in stored_labels.items():
            record = found.get(label) or {}
            reason = record.get("reason") or ""
            missing = [r for r in routes if f"{r}:" not in reason]
            self.check(
                f"{label}: reaches unrouted within {wait:.0f} s, with a reason naming every route tried "
                f"({len(routes)})",
                record.get("state") == "unrouted" and reason and not missing,
                f"series …{uid[-8:]}: state {record.get('state')}, routes not named {missing}, reason {reason[:200]!r}",
            )
        self.check("the node still answers C-ECHO from pynetdicom (PYMODALITY)", self.modality.echo())

    def pacs_stored_everything(self):
        self.check(
            "the pynetdicom PACS decoded and stored every dataset the node sent it",
            not self.pacs.errors,
            "; ".join(self.pacs.errors[:3]),
        )
