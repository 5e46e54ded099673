"""One line per check — `PASS name`, `FAIL name — why`, `SKIP name — why` — and the closing
`N passed, N failed` line (`, N skipped` follows when something was skipped). INFO lines carry
measurements that are reported but not asserted (e.g. Dice of an untrained model)."""


class Report:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.held = None  # a list while checks are held back (see `hold`)

    def hold(self):
        """Collects the following checks instead of printing and counting them, until `release`."""
        self.held = []

    def release(self):
        held, self.held = self.held, None
        return held

    def check(self, name, ok, detail=""):
        ok = bool(ok)
        if self.held is not None:
            self.held.append((ok, name, detail))
            return ok
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        why = "" if ok or not detail else " — " + " | ".join(str(detail).split("\n"))[:600]
        print(("PASS " if ok else "FAIL ") + name + why, flush=True)
        return ok

    def skip(self, name, why):
        self.skipped += 1
        print(f"SKIP {name} — {why}", flush=True)

    def info(self, text):
        if self.held is None:
            print(f"INFO {text}", flush=True)

    def summary(self):
        line = f"{self.passed} passed, {self.failed} failed"
        return line + (f", {self.skipped} skipped" if self.skipped else "")

    @property
    def ok(self):
        return self.failed == 0 and self.passed > 0
