"""A second DICOM stack beside DCMTK and Orthanc: pynetdicom as a modality (Storage SCU) and as a
PACS (Storage SCP) that keeps every dataset it receives. A node that only ever talked to DCMTK
could pass the harness on DCMTK's quirks; pynetdicom negotiates, encodes and aborts differently
(PS3.7 and PS3.8 implemented from scratch in Python).

The PACS runs inside the harness process (a thread of pynetdicom's association server) on a free
loopback port, and is stopped by `shutdown()`; nothing here starts a process."""

import os
import threading
from dataclasses import dataclass

import pydicom
from pynetdicom import AE, AllStoragePresentationContexts, build_context, evt
from pynetdicom.sop_class import Verification

from .peers import free_port

SUCCESS = 0x0000
# C-STORE warning statuses (PS3.4 B.2.3): the instance is stored.
WARNINGS = (0xB000, 0xB006, 0xB007, 0x0107, 0x0116)


def stored(status):
    """Whether a C-STORE response status (pydicom Dataset, empty when none came) means stored."""
    value = getattr(status, "Status", None)
    return value is not None and (value == SUCCESS or value in WARNINGS)


def status_text(status):
    value = getattr(status, "Status", None)
    return "no response" if value is None else f"0x{value:04X}"


class PynetdicomModality:
    """pynetdicom as the modality: associations to the node from `calling` (PS3.8 A-ASSOCIATE),
    C-STORE of files or datasets, A-RELEASE or A-ABORT."""

    def __init__(self, port, called="MAMBANODE", calling="PYMODALITY", host="127.0.0.1"):
        self.port, self.called, self.calling, self.host = port, called, calling, host

    def associate(self, contexts):
        """An association proposing `contexts` ([(abstract syntax, [transfer syntaxes])], at most
        128: PS3.8 9.3.2.2 numbers them with odd bytes 1–255). The Association; check `is_established`."""
        ae = AE(ae_title=self.calling)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
        for abstract, syntaxes in contexts:
            ae.add_requested_context(abstract, syntaxes)
        return ae.associate(self.host, self.port, ae_title=self.called)

    @staticmethod
    def contexts_for(datasets):
        """One context per SOP class, offering the transfer syntaxes the datasets are in."""
        wanted = {}
        for ds in datasets:
            wanted.setdefault(str(ds.SOPClassUID), set()).add(str(ds.file_meta.TransferSyntaxUID))
        return [(sop, sorted(syntaxes)) for sop, syntaxes in sorted(wanted.items())]

    def store(self, datasets, abort_after=None):
        """C-STORE `datasets` (pydicom Datasets with file_meta) in one association, then A-RELEASE,
        or A-ABORT after `abort_after` of them. Returns the statuses (one per C-STORE sent) and an
        error text ("" when the association was established)."""
        assoc = self.associate(self.contexts_for(datasets))
        if not assoc.is_established:
            return [], f"association to {self.called} not established (rejected or aborted)"
        statuses = []
        try:
            for index, ds in enumerate(datasets):
                if abort_after is not None and index == abort_after:
                    break
                statuses.append(assoc.send_c_store(ds))
        finally:
            if abort_after is not None:
                assoc.abort()
            else:
                assoc.release()
        return statuses, ""

    def echo(self):
        """C-ECHO (PS3.7 9.1.5) in its own association; True when the node answered Success."""
        assoc = self.associate([(Verification, [pydicom.uid.ImplicitVRLittleEndian])])
        if not assoc.is_established:
            return False
        try:
            status = assoc.send_c_echo()
            return getattr(status, "Status", None) == SUCCESS
        finally:
            assoc.release()


@dataclass
class Received:
    """One dataset the PACS stored: where, from whom, in which transfer syntax."""

    path: str
    sop_class: str
    sop_instance: str
    calling: str
    transfer_syntax: str


class PynetdicomPACS:
    """pynetdicom as the PACS: a Storage SCP for every storage SOP class pynetdicom knows, on a
    free loopback port, that writes each received dataset to `folder` as a DICOM file (PS3.10
    File Meta Information from the association: SOP class, instance and the transfer syntax it
    travelled in) and answers Success."""

    def __init__(self, folder, ae_title="PYPACS"):
        self.folder, self.ae_title = folder, ae_title
        self.port = free_port()
        self.received = []
        self.errors = []
        self._lock = threading.Lock()
        self._server = None
        os.makedirs(folder, exist_ok=True)

    def start(self):
        ae = AE(ae_title=self.ae_title)
        # As a Storage SCP pynetdicom may support more than the 128 contexts a requestor proposes.
        ae.supported_contexts = AllStoragePresentationContexts + [build_context(Verification)]
        self._server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._on_store)]
        )
        return self

    def shutdown(self):
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _on_store(self, event):
        """EVT_C_STORE: write the dataset with its File Meta Information; 0xA700 (out of resources,
        PS3.4 B.2.3) if it cannot be written, so the node retries rather than believing it stored."""
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            sop = str(ds.SOPInstanceUID)
            path = os.path.join(self.folder, f"{sop}.dcm")
            ds.save_as(path, enforce_file_format=True)
            entry = Received(
                path, str(ds.SOPClassUID), sop, event.assoc.requestor.ae_title, str(event.context.transfer_syntax)
            )
            with self._lock:
                self.received.append(entry)
            return SUCCESS
        except Exception as error:  # a dataset pydicom cannot decode or write is a finding, kept
            with self._lock:
                self.errors.append(f"{type(error).__name__}: {error}")
            return 0xA700

    def objects(self):
        with self._lock:
            return list(self.received)
