"""Load a URL with wrk when installed, else with a small threaded Python client."""

import http.client
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

WRK_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format("DUET %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), summary.errors.status))
end
"""


def tool_name():
    """Which load tool this machine uses."""
    return "wrk" if shutil.which("wrk") else "python-threads"


def load(url, *, seconds=5, connections=8, headers=None):
    """{"rps", "p50_ms", "p95_ms", "errors"} for GETs of `url`."""
    if shutil.which("wrk"):
        return _wrk(url, seconds, connections, headers or {})
    return _threads(url, seconds, connections, headers or {})


def _wrk(url, seconds, connections, headers):
    """Run wrk with a Lua report of p50 and p95."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "report.lua"
        script.write_text(WRK_REPORT)
        command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script)]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("DUET "))
    requests, duration_us, p50_us, p95_us, errors = (int(v) for v in line.split()[1:])
    return {
        "rps": round(requests / (duration_us / 1e6), 1),
        "p50_ms": round(p50_us / 1000, 2),
        "p95_ms": round(p95_us / 1000, 2),
        "errors": errors,
    }


def _threads(url, seconds, connections, headers):
    """A plain threaded client: one connection per request, like gunicorn's sync workers."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies, errors = [], [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker():
        while time.monotonic() < deadline:
            started = time.perf_counter()
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            connection.close()
            with lock:
                latencies.append(time.perf_counter() - started)
                errors[0] += response.status >= 400

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cuts = statistics.quantiles(latencies, n=20)
    return {
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p95_ms": round(cuts[18] * 1000, 2),
        "errors": errors[0],
    }
