"""`python -m mmservice.devstub`: serve the stub in the foreground for `make run` and benches."""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from .profiles import PROFILES
from .server import MAX_UPLOAD_BYTES, start_stub


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmservice.devstub",
                                     description="OpenAI-compatible upstream stub")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="base latency added to every /v1 request")
    parser.add_argument("--latency-per-audio-second-ms", type=float, default=0.0,
                        help="extra transcription latency per second of audio")
    parser.add_argument("--max-upload-bytes", type=int, default=MAX_UPLOAD_BYTES)
    parser.add_argument("--profile", default="openai", choices=sorted(PROFILES))
    args = parser.parse_args(argv)

    stub = start_stub(args.host, args.port, args.profile, args.latency_ms,
                      latency_per_audio_second_ms=args.latency_per_audio_second_ms,
                      max_upload_bytes=args.max_upload_bytes)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(stub.base_url, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        stub.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
