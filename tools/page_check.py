"""Load an HTML page in headless Chromium and report what a person would see go wrong.

Talks the Chrome DevTools Protocol over ``--remote-debugging-pipe`` (file descriptors 3 and 4,
NUL-separated JSON), so no extra Python package is needed. Reports JavaScript exceptions,
console errors, failed resource loads, every ``<img>`` (loaded, natural size) and every
``<audio>`` (metadata loaded, duration, media error), and writes a screenshot.

    python tools/page_check.py clusters_out/index.html --screenshot page.png [--browser /usr/bin/chromium]

Used by tests/training/test_clusters_browser.py; the browser comes from tools/browser.sh.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_PROBE = """
new Promise(resolve => {
  const audios = [...document.querySelectorAll('audio')];
  const done = () => audios.every(a => a.readyState >= 1 || a.error);
  const report = () => resolve({
    title: document.title,
    images: [...document.images].map(i => ({src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth})),
    audios: audios.map(a => ({src: a.getAttribute('src'), readyState: a.readyState, duration: a.duration,
                              error: a.error ? a.error.code : null})),
    external: [...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute('href'))
              .filter(u => /^(https?:)?\\/\\//.test(u)),
  });
  const t0 = Date.now();
  (function wait() { if (done() || Date.now() - t0 > %d) report(); else setTimeout(wait, 50); })();
})
"""


class Browser:
    """A headless Chromium driven over the DevTools pipe."""

    def __init__(self, binary: str, width: int = 1200, height: int = 900) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="catuvac-chromium-")
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()

        def fds() -> None:  # the child reads commands on fd 3 and writes replies on fd 4
            a, b = os.dup(to_child_r), os.dup(from_child_w)  # (either may already be 3 or 4)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--no-first-run", "--no-default-browser-check", "--allow-file-access-from-files",
             "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={self._tmp.name}",
             f"--window-size={width},{height}", "about:blank"],
            preexec_fn=fds, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0) -> dict:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        t_end = time.monotonic() + timeout
        while True:
            m = self._next(t_end)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict:
        t_end = time.monotonic() + timeout
        for m in self.events:
            if m.get("method") == method:
                return m
        while True:
            m = self._next(t_end)
            self.events.append(m)
            if m.get("method") == method:
                return m

    def _next(self, t_end: float) -> dict:
        while b"\0" not in self._buf:
            left = t_end - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("the browser did not answer in time")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError(f"the browser exited (status {self.proc.poll()})")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._w)
        os.close(self._r)
        self._tmp.cleanup()


def check_page(page: str | os.PathLike, screenshot: str | os.PathLike | None = None, *, binary: str | None = None,
               media_timeout_ms: int = 10000, width: int = 1200) -> dict:
    """Load ``page`` and return ``{"errors": [...], "images": [...], "audios": [...], "external": [...]}``."""
    binary = binary or shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not binary:
        raise FileNotFoundError("no chromium found: run tools/browser.sh (apt-get install chromium)")
    url = Path(page).resolve().as_uri()
    b = Browser(binary, width=width)
    try:
        target = next(t for t in b.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        sid = b.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            b.send(f"{domain}.enable", session=sid)
        b.send("Page.navigate", {"url": url}, session=sid)
        b.wait_event("Page.loadEventFired")
        probe = b.send("Runtime.evaluate", {"expression": _PROBE % media_timeout_ms, "awaitPromise": True,
                                            "returnByValue": True}, session=sid, timeout=media_timeout_ms / 1000 + 30)
        result = probe["result"]["value"]
        if screenshot is not None:
            h = b.send("Runtime.evaluate", {"expression": "document.documentElement.scrollHeight",
                                            "returnByValue": True}, session=sid)["result"]["value"]
            b.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": int(min(h, 4000)),
                                                          "deviceScaleFactor": 1, "mobile": False}, session=sid)
            shot = b.send("Page.captureScreenshot", {"format": "png"}, session=sid)
            Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        result["errors"] = _errors(b.events)
        return result
    finally:
        b.close()


def _errors(events: list[dict]) -> list[str]:
    out = []
    for m in events:
        p, meth = m.get("params", {}), m.get("method")
        if meth == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            out.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif meth == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
        elif meth == "Log.entryAdded" and p["entry"]["level"] == "error":
            out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        elif meth == "Network.loadingFailed" and not p.get("canceled"):
            out.append(f"load failed: {p.get('errorText')} ({p.get('requestId')})")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("page")
    ap.add_argument("--screenshot")
    ap.add_argument("--browser")
    ap.add_argument("--width", type=int, default=1200)
    a = ap.parse_args(argv)
    r = check_page(a.page, a.screenshot, binary=a.browser, width=a.width)
    print(json.dumps(r, indent=2))
    bad = r["errors"] or [i for i in r["images"] if not i["width"]] or [x for x in r["audios"] if x["readyState"] < 1]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
