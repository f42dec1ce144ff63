"""`make run`: the whole portal on one machine with embedded defaults.

Starts the embedded Redis (unless REDIS_URL is set) and the development SMTP sink
(unless MAIL_HOST is set), applies migrations, loads the demo data, then runs the web
app (gunicorn), one RQ worker and the `rq cron` scheduler until Ctrl-C stops them all.
"""

import os
import signal
import socket
import subprocess
import sys
import time

from portal.config import instance_dir, load_config
from portal.demo import DEMO_LOGINS, DEMO_PASSWORD
from portal.notifications.sink import start_sink
from portal.queue import start_embedded_redis, stop_embedded_redis

BIN = os.path.dirname(sys.executable)


def _free_port(preferred):
    """The preferred loopback port if it is free, else any free one."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]


def _prepare_environment(env):
    """Embedded Redis and the SMTP sink where nothing else is configured; returns cleanups."""
    cleanups = []
    instance_dir(env).mkdir(parents=True, exist_ok=True)
    if not env.get("REDIS_URL"):
        server, url = start_embedded_redis(load_config(env=env)["EMBEDDED_REDIS_PATH"])
        env["REDIS_URL"] = url
        cleanups.append(lambda: stop_embedded_redis(server, owner=True))
    if not env.get("MAIL_HOST"):
        port = _free_port(int(env.get("MAIL_PORT", "1025")))
        sink = start_sink(load_config(env=env)["DEV_MAILDIR"], port=port)
        env.update(MAIL_HOST="127.0.0.1", MAIL_PORT=str(port))
        cleanups.append(sink.stop)
    return cleanups


def _run_setup(env):
    """Apply migrations and load the demo data (both safe to repeat)."""
    flask = [os.path.join(BIN, "flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], env=env, check=True)
    subprocess.run([*flask, "seed-demo"], env=env, check=True)


def _start_processes(env, port):
    """Web, worker and scheduler as child processes."""
    commands = {
        "web": [
            os.path.join(BIN, "gunicorn"),
            "--workers",
            "2",
            "--threads",
            "4",
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "-",
            "wsgi:app",
        ],
        "worker": [sys.executable, "-m", "jobs.worker"],
        "cron": [os.path.join(BIN, "rq"), "cron", "--url", env["REDIS_URL"], "jobs.cron"],
    }
    # Own sessions: Ctrl-C reaches only this supervisor, which stops each child once.
    return {
        name: subprocess.Popen(cmd, env=env, start_new_session=True)
        for name, cmd in commands.items()
    }


def _stop(processes):
    """Ask every child to stop, then make sure it has."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


def _interrupt(_signum, _frame):
    """SIGINT and SIGTERM stop the children, even where a shell ignored SIGINT."""
    raise KeyboardInterrupt


def main():
    """Run everything until Ctrl-C or until one process dies."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    env = dict(os.environ)
    port = int(env.get("PORT", "5000"))
    env["PORT"] = str(port)
    cleanups = _prepare_environment(env)
    processes = {}
    try:
        _run_setup(env)
        processes = _start_processes(env, port)
        print(f"\nDuet is running at http://127.0.0.1:{port}  (Ctrl-C stops everything)")
        print(f"Demo logins, password {DEMO_PASSWORD}:")
        for email, role in DEMO_LOGINS:
            print(f"  {email:<24} {role}")
        print("Mail sent in development: sign in as admin@example.com, then Mail.\n", flush=True)
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        dead = [name for name, p in processes.items() if p.poll() is not None]
        print(f"Stopping: {', '.join(dead)} exited.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping Duet...")
        return 0
    finally:
        _stop(processes)
        for cleanup in reversed(cleanups):
            cleanup()


if __name__ == "__main__":
    sys.exit(main())
