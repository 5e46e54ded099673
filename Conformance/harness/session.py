"""One harness run: Orthanc as the PACS and `mambanode serve` on free loopback ports, every
sample of the table pushed and followed through the node's API to its outcome, the results
fetched back from Orthanc and validated."""

import json
import os
import re
import time

import numpy as np
import pydicom

from .peers import Node, Orthanc, free_port, run, wait_for
from .samples import SAMPLES, Made, Refused, Rejected, edge_cases_listed
from .validators import Expected, Validator
from .views import ALL_OUTPUTS, ViewValidator

TERMINAL = ("done", "failed", "unrouted")


def slug(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48]


class SeriesFiles:
    """The series a sample's files hold, read back with pydicom (unreadable files are skipped)."""

    def __init__(self, paths):
        self.series = {}  # uid → {"files": [...], "study": uid, "modality": str}
        self.patients = set()
        self.syntaxes = set()
        for path in paths:
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
                uid, study = str(ds.SeriesInstanceUID), str(ds.StudyInstanceUID)
                self.syntaxes.add(str(ds.file_meta.TransferSyntaxUID))
            except Exception:
                continue
            entry = self.series.setdefault(uid, {"files": [], "study": study, "modality": str(ds.get("Modality", ""))})
            entry["files"].append(path)
            for value in (str(ds.get("PatientName", "")), str(ds.get("PatientID", ""))):
                if len(value) >= 5:
                    self.patients.add(value)


class Session:
    def __init__(self, binary, work, report, processes):
        self.binary, self.work, self.report, self.processes = binary, work, report, processes
        self.models = {}
        self.patients = set()
        # (model, bar) -> per-sample mean Dice of the samples whose figure counts towards the bar.
        self.held_out = {}

    # Peers ----------------------------------------------------------------------------------

    def start(self):
        node_port, http_port = free_port(), free_port()
        self.orthanc = Orthanc(self.processes, self.work, "ORTHANC", {"node": ["MAMBANODE", "127.0.0.1", node_port]})
        self.report.check(
            "Orthanc (the PACS) starts from its JSON configuration",
            self.orthanc.ready(),
            open(self.orthanc.log).read()[-400:] if os.path.exists(self.orthanc.log) else "",
        )
        # The trained sample models (Samples/models) where the checkout has them: their Dice
        # against ground truth is asserted. Otherwise, and for the four-input study route, untrained
        # packages (random weights): real plumbing, labels without meaning.
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        models = {"untrained-mr4": ["--modality", "MR", "--inputs", "t1,t1ce,t2,flair"]}
        for key, fallback in (("ct-organs", []), ("mr-brain", ["--modality", "MR"])):
            path = os.path.join(root, "Samples", "models", key)
            if os.path.exists(os.path.join(path, "model.json")):
                r = run([self.binary, "models", "verify", path])
                self.report.check(
                    f"sample model {key} verifies (models verify)", r.returncode == 0, r.stdout + r.stderr
                )
                self.models[key] = {"path": path, "trained": True}
            else:
                models[key] = fallback
        for key, options in models.items():
            path = f"{self.work}/model-{key}"
            r = run([self.binary, "models", "create-untrained", path, "--spacing", "6", "--patch", "32", *options])
            self.report.check(
                f"untrained model package {key} created (create-untrained {' '.join(options) or 'defaults: CT'})",
                r.returncode == 0,
                r.stderr,
            )
            self.models[key] = {"path": path, "trained": False}
        paths = {key: model["path"] for key, model in self.models.items()}
        pacs = self.start_pynetdicom_pacs()
        # The second stack (second_stack.py): the pynetdicom PACS as a destination, and CT series
        # from PYMODALITY routed to it and to Orthanc, ahead of every other route.
        second_destination = (
            (
                f"\n  - {{ name: {self.pypacs_destination}, ae_title: {pacs.ae_title}, host: 127.0.0.1, port: {pacs.port} }}"
            )
            if pacs
            else ""
        )
        second_route = (
            (
                f"  - {{ name: pynetdicom-ct, priority: 20, model: ct-organs, "
                f"destinations: [{self.pypacs_destination}, pacs], quiet_time: 1s, "
                "match: [ { tag: Modality, equals: CT }, { field: calling_ae, equals: PYMODALITY } ] }\n"
            )
            if pacs
            else ""
        )
        # Series no route matched become `unrouted` after this quiet time (the node's default is
        # 45 s), so that second_stack.py need not wait that long for them.
        self.unrouted_quiet_time = 2
        config = f"{self.work}/node.yaml"
        with open(config, "w") as f:
            f.write(f"""# Written by Conformance/run: free loopback ports, one route per modality, the study-level
# route of Config/node.yaml's brain-tumour example for studies sent by MRSTUDY, and the
# pynetdicom PACS and route for CT series sent by PYMODALITY (second_stack.py).
node: {{ ae_title: MAMBANODE, port: {node_port}, allowed_calling_aes: [MODALITY, ORTHANC, MRSTUDY, PYMODALITY, VIEWS] }}
unrouted_quiet_time: {self.unrouted_quiet_time}s
storage: {{ directory: {self.work}/store, database: {self.work}/node.sqlite, min_free_disk_mb: 1 }}
http: {{ port: {http_port} }}
logging: {{ format: json, level: info }}
sending: {{ first_retry: 1s, max_retry: 2s }}
destinations:
  - {{ name: pacs, ae_title: ORTHANC, host: 127.0.0.1, port: {self.orthanc.dicom_port} }}
  - {{ name: pacs-views, ae_title: ORTHANC, host: 127.0.0.1, port: {self.orthanc.dicom_port}, outputs: [seg, sr, rtstruct, gsps, sc, ko] }}{second_destination}
models: {json.dumps(paths)}
routes:
{second_route}  - name: brain-tumour
    priority: 10
    level: study
    match: [ {{ tag: Modality, equals: MR }}, {{ field: calling_ae, equals: MRSTUDY }} ]
    channels:
      - {{ name: t1, match: [ {{ tag: SeriesDescription, regex: "(?i)^t1(?!.*(ce|gd|post))" }} ] }}
      - {{ name: t1ce, match: [ {{ tag: SeriesDescription, regex: "(?i)t1.*(ce|gd|post)" }} ] }}
      - {{ name: t2, match: [ {{ tag: SeriesDescription, regex: "(?i)^t2(?!.*flair)" }} ] }}
      - {{ name: flair, match: [ {{ tag: SeriesDescription, regex: "(?i)flair" }} ] }}
    model: untrained-mr4
    destinations: [pacs]
    quiet_time: 1s
  - {{ name: ct-views, priority: 5, model: ct-organs, destinations: [pacs-views], match: [{{ tag: Modality, equals: CT }}, {{ field: calling_ae, equals: VIEWS }}], quiet_time: 1s }}
  - {{ name: mr-views, priority: 5, model: mr-brain, destinations: [pacs-views], match: [{{ tag: Modality, equals: MR }}, {{ field: calling_ae, equals: VIEWS }}], quiet_time: 1s }}
  - {{ name: ct, model: ct-organs, destinations: [pacs], match: [{{ tag: Modality, equals: CT }}], quiet_time: 1s }}
  - {{ name: mr, model: mr-brain, destinations: [pacs], match: [{{ tag: Modality, equals: MR }}], quiet_time: 1s }}
""")
        self.node = Node(self.processes, self.binary, config, f"{self.work}/node.log", node_port, http_port)
        return self.report.check(
            "node answers C-ECHO from an allowed calling AE", self.node.ready(), self.node.log_tail()
        )

    def start_pynetdicom_pacs(self):
        """The second stack's PACS (pynetdicom_peers.py) in this process, started before the node
        is configured so that its port is known; None when pynetdicom is not installed (the
        second stack's checks then fail, the others run)."""
        self.pypacs, self.pypacs_destination = None, "pypacs"
        try:
            from .pynetdicom_peers import PynetdicomPACS
        except ImportError as error:
            self.report.check("pynetdicom is importable (Scripts/requirements-test.txt)", False, str(error))
            return None
        self.pypacs = PynetdicomPACS(f"{self.work}/pynetdicom-pacs").start()
        return self.pypacs

    def stop(self):
        """Stops what runs inside the harness process (the processes stop by PID in Processes)."""
        if getattr(self, "pypacs", None) is not None:
            self.pypacs.shutdown()
            self.pypacs = None

    # Samples --------------------------------------------------------------------------------

    def run_all(self, only=None):
        if not only:
            listed = edge_cases_listed(self.binary)
            table = {s.name.split()[2] for s in SAMPLES if s.name.startswith("edge case ")}
            self.report.check(
                f"every edge case `samples edge --help` lists ({len(listed)}) has a sample",
                listed and listed <= table,
                f"missing: {sorted(listed - table)}",
            )
        for sample in SAMPLES:
            if only and only.lower() not in sample.name.lower():
                continue
            started = time.time()
            if sample.known_defect:
                self.report.hold()
            try:
                self.run_sample(sample)
            except Exception as error:  # a harness bug or a vanished peer fails this sample, not the run
                self.report.check(
                    f"{sample.name}: completed without a harness error", False, f"{type(error).__name__}: {error}"
                )
            if sample.known_defect:
                held = self.report.release()
                failed = [(name, detail) for ok, name, detail in held if not ok]
                if failed:
                    self.report.skip(
                        sample.name,
                        f"known defect: {sample.known_defect}; first failing check: "
                        f"{failed[0][0]} — {str(failed[0][1])[:200]}",
                    )
                else:
                    self.report.check(
                        f"{sample.name}: the known defect is gone ({len(held)} checks pass) — "
                        "drop its known_defect flag",
                        False,
                    )
            self.report.info(f"{sample.name}: {time.time() - started:.1f} s")
        # The held-out figure: a trained model's mean Dice over its held-out samples (each sample's
        # mean over labels, then their mean), against the bar the samples name.
        for (model, bar), cases in sorted(self.held_out.items()):
            mean = float(np.mean([value for _, value in cases]))
            self.report.check(
                f"{model}: mean Dice over {len(cases)} held-out samples ≥ {bar} ({mean:.3f})",
                mean >= bar,
                ", ".join(f"{name}: {value:.3f}" for name, value in cases),
            )

    def run_sample(self, sample):
        name, folder = sample.name, f"{self.work}/{slug(sample.name)}"
        try:
            made = sample.make(self, folder)
        except Exception as error:
            self.report.check(f"{name}: generated", False, str(error))
            return
        paths = [
            p
            for path in made.paths
            for p in (
                [path] if os.path.isfile(path) else sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs)
            )
        ]
        files = SeriesFiles(paths)
        self.patients |= files.patients
        pushed = self.push(sample, made, paths, files)
        if isinstance(sample.expect, Refused):
            stored = {s["series_instance_uid"] for s in self.node.api("series")}
            self.report.check(
                f"{name}: not stored (storescu cannot send it or the node refuses it)",
                not pushed and not (set(files.series) & stored),
            )
            return
        if not self.report.check(
            f"{name}: pushed ({len(paths)} files, {len(files.series)} series, via {sample.via})",
            pushed,
            self.last_push_error,
        ):
            return
        if sample.level == "study":
            self.follow_study(sample, name, files, made)
            return
        for uid, series in files.series.items():
            label = name if len(files.series) == 1 else f"{name} [{series['modality']} {uid[-8:]}]"
            # Ground truth belongs to a single-series sample.
            self.follow(sample, label, uid, series, made if len(files.series) == 1 else Made(made.paths))

    def push(self, sample, made, paths, files):
        self.last_push_error = ""
        if sample.via == "orthanc":
            try:
                ids = [self.orthanc.rest("/instances", data=open(p, "rb").read(), method="POST")["ID"] for p in paths]
                self.orthanc.post_json("/modalities/node/store", {"Resources": ids, "Synchronous": True})
                return True
            except Exception as error:
                self.last_push_error = f"Orthanc → node C-STORE: {error}"
                return False
        r = self.node.storescu(
            made.paths, calling=sample.calling, syntax=next(iter(files.syntaxes)) if len(files.syntaxes) == 1 else None
        )
        self.last_push_error = (r.stdout + r.stderr)[-400:]
        return r.returncode == 0

    def outcome(self, uids, subject):
        """The final state of the series `uids` and the latest job on `subject` (a series, or the
        study of a study-level route); None while any is not final or results are still pending."""
        records = {s["series_instance_uid"]: s for s in self.node.api("series") if s["series_instance_uid"] in uids}
        if len(records) < len(uids) or any(s["state"] not in TERMINAL for s in records.values()):
            return None
        jobs = [j for j in self.node.api("jobs") if j["subject_uid"] == subject]
        job = max(jobs, key=lambda j: j["id"]) if jobs else None
        series = records[uids[0]]
        if series["state"] == "done":
            entries = [o for o in self.node.api("outbox") if job and o["job_id"] == job["id"]]
            if not entries or any(o["state"] == "pending" for o in entries):
                return None
            return {"series": series, "job": job, "outbox": entries, "all": records}
        return {"series": series, "job": job, "outbox": [], "all": records}

    def follow(self, sample, name, uid, series, made):
        result = wait_for(lambda: self.outcome([uid], uid), 180)
        if not self.report.check(
            f"{name}: the node reaches a final state for the series", result is not None, self.node.log_tail(400)
        ):
            return
        stored = result["series"]["instance_count"]
        self.report.check(
            f"{name}: stored by the node ({stored} of {len(series['files'])} instances)", stored == len(series["files"])
        )
        job, reason = result["job"] or {}, (result["job"] or {}).get("reason") or result["series"].get("reason") or ""
        expect = sample.expect
        if isinstance(expect, Rejected):
            self.report.check(
                f"{name}: rejected — the job fails with a reason naming the series and '{expect.reason}'",
                result["series"]["state"] == "failed"
                and job.get("state") == "failed"
                and expect.reason in reason
                and uid in reason,
                f"state {result['series']['state']}, reason: {reason}",
            )
            if reason:
                self.report.info(f"{name}: reason: {reason[:300]}")
            return
        if not self.report.check(
            f"{name}: processed (job done)",
            job.get("state") == "done",
            f"state {result['series']['state']}, job {job.get('state')}, reason: {reason}",
        ):
            return
        if expect.warning:
            self.report.check(
                f"{name}: the done job reports '{expect.warning}' as its reason",
                expect.warning in reason,
                f"reason: {reason!r}",
            )
            self.report.info(f"{name}: reason: {reason[:300]}")
        self.validate(sample, name, uid, series, made, result)

    def follow_study(self, sample, name, files, made):
        """A study-level route: every series fills a channel, one job over all of them, whose
        SEG and SR lie on the grid of the model's first input (docs/node-behaviour.md, Study-level routes)."""
        studies = {series["study"] for series in files.series.values()}
        if not self.report.check(f"{name}: one study ({len(files.series)} series)", len(studies) == 1, studies):
            return
        study, uids = studies.pop(), sorted(files.series)
        result = wait_for(lambda: self.outcome(uids, study), 180)
        if not self.report.check(
            f"{name}: the node reaches a final state for the study", result is not None, self.node.log_tail(400)
        ):
            return
        channels = {uid: record.get("channel") for uid, record in result["all"].items()}
        descriptions = {
            uid: str(pydicom.dcmread(files.series[uid]["files"][0], stop_before_pixels=True).SeriesDescription)
            for uid in uids
        }
        self.report.check(
            f"{name}: each series fills its channel ("
            + ", ".join(f"{descriptions[u]} → {channels[u]}" for u in uids)
            + ")",
            all(channels[u] == descriptions[u].lower() for u in uids),
            channels,
        )
        stored = {u: result["all"][u]["instance_count"] for u in uids}
        self.report.check(
            f"{name}: stored by the node ({sum(stored.values())} of "
            f"{sum(len(files.series[u]['files']) for u in uids)} instances)",
            all(stored[u] == len(files.series[u]["files"]) for u in uids),
        )
        job = result["job"] or {}
        if not self.report.check(
            f"{name}: processed (one study-level job done over {len(uids)} series)",
            job.get("state") == "done"
            and job.get("level") == "study"
            and all(r["state"] == "done" for r in result["all"].values()),
            f"job {job}, series states {[r['state'] for r in result['all'].values()]}",
        ):
            return
        manifest = json.load(open(os.path.join(self.models[job["model"]]["path"], "model.json")))
        by_channel = {channels[u]: u for u in uids}
        inputs = [by_channel.get(i["name"]) for i in manifest["inputs"]]
        if not self.report.check(f"{name}: a series for every input of {job['model']}", None not in inputs, by_channel):
            return
        first = inputs[0]
        self.validate(
            sample,
            f"{name} [results on {descriptions[first]}]",
            first,
            files.series[first],
            made,
            result,
            inputs=[(u, files.series[u]) for u in inputs],
        )

    def validate(self, sample, name, uid, series, made, result, inputs=None):
        model = self.models[result["job"]["model"]]
        manifest = json.load(open(os.path.join(model["path"], "model.json")))
        kinds = {"SEG", "SR"} if manifest.get("task", "segmentation") == "segmentation" else {"SR"}
        every_output = sample.calling == "VIEWS"
        if every_output:
            kinds = ALL_OUTPUTS
        folder = f"{self.work}/{slug(name)}-results"
        os.makedirs(folder, exist_ok=True)
        uids = [o["sop_instance_uid"] for o in result["outbox"] if o["state"] == "sent"]
        found = {}

        def fetched():
            for sop in uids:
                if sop not in found:
                    instance = self.lookup(sop)
                    if instance:
                        found[sop] = self.orthanc.download(instance, f"{folder}/{sop}.dcm")
            return len(found) == len(uids) and uids

        ok = wait_for(fetched, 60)
        delivered = sorted(pydicom.dcmread(p, stop_before_pixels=True).Modality for p in found.values())
        if not self.report.check(
            f"{name}: {' and '.join(sorted(kinds))} delivered to the PACS and found there",
            ok and set(delivered) == kinds and (every_output or len(delivered) == len(kinds)),
            f"outbox {[(o['state'], o.get('last_error')) for o in result['outbox']]}, in Orthanc: {delivered}",
        ):
            return
        # Each input series as the node received it: the files sent, in a folder of its own.
        sources = []
        for index, (input_uid, input_series) in enumerate(inputs or [(uid, series)]):
            source_folder = f"{self.work}/{slug(name)}-source-{index}"
            os.makedirs(source_folder, exist_ok=True)
            for number, path in enumerate(input_series["files"]):
                target = os.path.join(source_folder, f"{number:05d}-{os.path.basename(path)}")
                if not os.path.exists(target):
                    os.symlink(os.path.abspath(path), target)
            sources.append((source_folder, input_uid))
        expected, error = Expected.compute(self.binary, model["path"], sources, folder)
        self.report.check(
            f"{name}: the model's own output for the series (mambanode volume + infer)", expected is not None, error
        )
        validator = Validator(
            self.report,
            name,
            series["files"],
            list(found.values()),
            expected,
            made.truth,
            sample.dice_min if model["trained"] else None,
            work=folder,
        )
        validator.all()
        if every_output and expected is not None and expected.labels is not None:
            ViewValidator(validator).all()
        if sample.mean_dice_min is not None and model["trained"]:
            scores = list(validator.dice_scores.values())
            self.held_out.setdefault((result["job"]["model"], sample.mean_dice_min), []).append(
                (name, float(np.mean(scores)) if scores else 0.0)
            )

    def lookup(self, sop):
        hits = self.orthanc.rest("/tools/lookup", data=sop.encode(), method="POST")
        return next((h["ID"] for h in hits if h["Type"] == "Instance"), None)

    # Node-wide checks -----------------------------------------------------------------------

    def negative_associations(self):
        self.report.check(
            "unknown calling AE: the association is rejected (C-ECHO fails)", not self.node.echo("INTRUDER")
        )
        folder = f"{self.work}/intruder"
        run([self.binary, "samples", "ct", folder, "--slices", "2", "--size", "16", "--seed", "21"])
        r = self.node.storescu([folder], calling="INTRUDER")
        uids = SeriesFiles(sorted(os.path.join(folder, f) for f in os.listdir(folder))).series
        stored = {s["series_instance_uid"] for s in self.node.api("series")}
        self.report.check(
            "unknown calling AE: storescu fails and nothing is stored",
            r.returncode != 0 and not set(uids) & stored,
            r.stderr[-300:],
        )

    def audit_trail(self):
        """The audit trail (PS3.15 A.5): one JSON audit message per line; per inbound
        association that stored instances one Begin Transferring and one DICOM Instances
        Transferred (action C) naming the patient; deliveries to the PACS as Instances Transferred
        (action R); a Security Alert for the rejected calling AE. An association's messages are
        written when it ends, hence the wait."""
        path = f"{self.work}/store/audit.jsonl"

        def messages():
            return [json.loads(line)["AuditMessage"] for line in open(path).read().splitlines()]

        def event(m):
            e = m["EventIdentification"]
            return e["EventID"]["csd-code"], e["EventActionCode"]

        def alert_for_intruder():
            return any(event(m) == ("110113", "E") and "INTRUDER" in json.dumps(m) for m in messages())

        try:
            wait_for(alert_for_intruder, 10)
            found = messages()
            self.report.check("audit: every line of the audit file is one well-formed audit message", True)
        except Exception as error:  # unreadable file or a malformed line
            self.report.check("audit: every line of the audit file is one well-formed audit message", False, str(error))
            return
        inbound = [m for m in found if event(m) == ("110104", "C")]
        begun = [m for m in found if event(m)[0] == "110102"]
        outbound = [m for m in found if event(m) == ("110104", "R")]

        def has(m, type_code, role):
            return any(
                o.get("ParticipantObjectTypeCode") == type_code and o.get("ParticipantObjectTypeCodeRole") == role
                for o in m.get("ParticipantObjectIdentification") or []
            )

        # Every transfer names its studies; the patient wherever the instances carry a Patient ID
        # (some real test files pushed here have none).
        with_patient = sum(1 for m in inbound if has(m, "1", "1"))
        self.report.check(
            "audit: one DICOM Instances Transferred (C) per inbound association that stored, each naming its studies",
            inbound and len(inbound) == len(begun) and all(has(m, "2", "3") for m in inbound),
            f"{len(inbound)} transferred, {len(begun)} begun",
        )
        self.report.check(
            "audit: inbound transfers name the patient (Patient ID)",
            with_patient > 0,
            f"{with_patient} of {len(inbound)}",
        )
        self.report.info(f"audit: {with_patient} of {len(inbound)} inbound transfers name a patient")

        def to(m, aet):
            return any(p.get("UserID") == aet for p in m["ActiveParticipant"])

        # Deliveries go to Orthanc and, for PYMODALITY's series, also to the pynetdicom PACS.
        second = self.pypacs.ae_title if self.pypacs else None
        self.report.check(
            "audit: deliveries to the PACS are audited (action R, destination ORTHANC)",
            outbound
            and any(to(m, "ORTHANC") for m in outbound)
            and all(to(m, "ORTHANC") or (second and to(m, second)) for m in outbound),
            f"{len(outbound)} deliveries",
        )
        if second:
            self.report.check(
                f"pynetdicom: deliveries to the pynetdicom PACS are audited (action R, destination {second})",
                any(to(m, second) for m in outbound),
                f"{sum(to(m, second) for m in outbound)} deliveries",
            )
        self.report.check("audit: the rejected calling AE gives a Security Alert", alert_for_intruder())

    def node_survived(self):
        self.report.check(
            "the node is still running and answers C-ECHO after every sample", self.node.running() and self.node.echo()
        )
        log = open(self.node.log, errors="replace").read()
        leaked = sorted(p for p in self.patients if p in log)
        self.report.check(
            f"no patient name or ID of the {len(self.patients)} pushed in the node's log",
            not leaked,
            f"{len(leaked)} found",
        )
