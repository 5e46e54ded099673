"""The real peers on loopback: Orthanc as the PACS (and as a modality), `mambanode serve`, DCMTK's
storescu/echoscu. Every process started here is remembered and stopped by its PID (SIGTERM, then
SIGKILL after a grace period); nothing is stopped by name."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

# DCMTK stalls ~45 ms per C-STORE on loopback without it (docs/platform-notes.md, Environment facts).
ENV = dict(os.environ, TCP_NODELAY="1")


# storescu proposes uncompressed transfer syntaxes unless told which compressed one to add.
STORESCU_PROPOSE = {
    "1.2.840.10008.1.2.2": ["-xb"],
    "1.2.840.10008.1.2.1.99": ["-xd"],
    "1.2.840.10008.1.2.5": ["-xr"],
    "1.2.840.10008.1.2.4.70": ["-xs"],
    "1.2.840.10008.1.2.4.50": ["-xy"],
    "1.2.840.10008.1.2.4.51": ["-xx"],
    "1.2.840.10008.1.2.4.80": ["-xt"],
    "1.2.840.10008.1.2.4.81": ["-xu"],
    "1.2.840.10008.1.2.4.90": ["-xv"],
    "1.2.840.10008.1.2.4.91": ["-xw"],
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(cmd, timeout=300, **kw):
    """Runs a tool to completion; a missing tool or a hang reads as a failed run, never a crash."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout, **kw)
    except FileNotFoundError as error:
        return subprocess.CompletedProcess(cmd, 127, "", str(error))
    except subprocess.TimeoutExpired as error:
        return subprocess.CompletedProcess(cmd, 124, "", f"timed out after {timeout} s: {error}")


def wait_for(predicate, seconds, interval=0.2):
    """Polls `predicate` until it returns something truthy (returned) or `seconds` pass (None)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ValueError, KeyError, urllib.error.URLError):
            pass
        time.sleep(interval)
    return None


class Processes:
    """The processes one run started, stopped in reverse order by PID."""

    def __init__(self):
        self.children = []

    def start(self, cmd, log):
        p = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=ENV, stdin=subprocess.DEVNULL)
        self.children.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.children):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.children):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.children.clear()


def http(port, path, data=None, method=None, timeout=30):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None and data[:1] in (b"{", b"["):
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
    return json.loads(body) if body[:1] in (b"[", b"{") else body


class Orthanc:
    """Orthanc from a JSON configuration in `work`, DICOM and HTTP on free loopback ports."""

    def __init__(self, processes, work, aet, modalities):
        self.dicom_port, self.http_port, self.aet = free_port(), free_port(), aet
        self.log = f"{work}/orthanc.log"
        config = {
            "Name": "MambaNode " + aet,
            "StorageDirectory": f"{work}/orthanc",
            "IndexDirectory": f"{work}/orthanc",
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": True,
            "Plugins": [],
            "HttpBindAddress": "127.0.0.1",
            "DicomModalities": modalities,
        }
        with open(f"{work}/orthanc.json", "w") as f:
            json.dump(config, f, indent=2)
        self.process = processes.start(["Orthanc", f"{work}/orthanc.json"], self.log)

    def ready(self, seconds=60):
        return wait_for(lambda: self.process.poll() is None and self.rest("/system"), seconds) is not None

    def rest(self, path, data=None, method=None):
        return http(self.http_port, path, data, method)

    def post_json(self, path, value):
        return self.rest(path, data=json.dumps(value).encode(), method="POST")

    @property
    def explorer(self):
        return f"http://127.0.0.1:{self.http_port}/app/explorer.html"

    def results(self, study_uid, modalities=("SEG", "SR")):
        """The result instances Orthanc holds in one study: [(orthanc id, modality, series uid)]."""
        found = []
        for modality in modalities:
            for series in self.post_json(
                "/tools/find",
                {"Level": "Series", "Expand": True, "Query": {"StudyInstanceUID": study_uid, "Modality": modality}},
            ):
                for instance in series["Instances"]:
                    found.append((instance, modality, series["MainDicomTags"]["SeriesInstanceUID"]))
        return found

    def download(self, instance, path):
        with open(path, "wb") as f:
            f.write(self.rest(f"/instances/{instance}/file"))
        return path


class Node:
    """`mambanode serve` from a YAML configuration; its HTTP API tells series and job states."""

    def __init__(self, processes, binary, config, log, dicom_port, http_port, ae_title="MAMBANODE"):
        self.binary, self.config, self.log = binary, config, log
        self.port, self.http_port, self.ae_title = dicom_port, http_port, ae_title
        self.process = processes.start([binary, "serve", "--config", config], log)

    def echo(self, calling="MODALITY"):
        return (
            run(["echoscu", "-aet", calling, "-aec", self.ae_title, "127.0.0.1", str(self.port)], timeout=30).returncode
            == 0
        )

    def running(self):
        return self.process.poll() is None

    def ready(self, seconds=60):
        return wait_for(lambda: self.running() and self.echo(), seconds) is not None

    def api(self, what):
        return http(self.http_port, f"/api/{what}")

    def log_tail(self, characters=800):
        try:
            return open(self.log, errors="replace").read()[-characters:]
        except OSError:
            return ""

    def storescu(self, paths, calling="MODALITY", syntax=None):
        """C-STORE with DCMTK's storescu: only the presentation contexts the files need (-R), with
        the files' own (compressed) transfer syntax proposed so they travel as they are."""
        propose = STORESCU_PROPOSE.get(syntax, [])
        return run(
            [
                "storescu",
                "-R",
                "+sd",
                "+r",
                *propose,
                "-aet",
                calling,
                "-aec",
                self.ae_title,
                "127.0.0.1",
                str(self.port),
                *paths,
            ]
        )
