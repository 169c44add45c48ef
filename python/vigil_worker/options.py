"""The worker's command line: the flags `vigil serve` passes to every worker
(the same as vigil-worker's, src/worker/options.h), plus the engine's own.

    PROGRAM [ENGINE FLAGS] --fd N [--model M] [--mmproj P] [--ctx N] [--jobs N]
            [--threads N] [--gpu-layers N] [--device D] [--max-image-pixels P]
            [--model-name NAME] [--allow-fault-injection] [--fault-at-load KIND]

Flags this worker does not know are ignored (named on stderr): a newer
supervisor may pass more. A bad value of a known flag is a fatal
configuration error (exit 2).
"""
from __future__ import annotations

import argparse
import sys

from vigil_worker.engine import Engine, WorkerConfig


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 by default too; say who we are
        raise ValueError(message)


def parse_worker_args(engine: Engine, argv: list[str]) -> WorkerConfig:
    """Raises ValueError with a message for stderr."""
    p = _Parser(prog=engine.name + " worker", add_help=False)
    p.add_argument("--fd", type=int, required=True, help="protocol socket (inherited)")
    p.add_argument("--model", default="")
    p.add_argument("--mmproj", default="")
    p.add_argument("--ctx", type=int, default=4096)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--gpu-layers", type=int, default=-1)
    p.add_argument("--device", default="")
    p.add_argument("--max-image-pixels", type=int, default=50_000_000)
    p.add_argument("--model-name", default="")
    p.add_argument("--allow-fault-injection", action="store_true")
    p.add_argument("--fault-at-load", default="")
    engine.add_arguments(p)
    args, unknown = p.parse_known_args(argv)
    if unknown:
        print("%s worker: ignoring flags %s" % (engine.name, " ".join(unknown)), file=sys.stderr)
    if not 1 <= args.jobs <= 1024:
        raise ValueError("--jobs must be 1..1024")
    if args.ctx < 1:
        raise ValueError("--ctx must be positive")
    if args.fault_at_load and not args.allow_fault_injection:
        raise ValueError("--fault-at-load needs --allow-fault-injection")
    from vigil_worker.faults import KINDS
    if args.fault_at_load and args.fault_at_load not in KINDS:
        raise ValueError("--fault-at-load: unknown kind " + args.fault_at_load)
    return WorkerConfig(fd=args.fd, model=args.model, mmproj=args.mmproj, ctx=args.ctx, jobs=args.jobs,
                        threads=args.threads, gpu_layers=args.gpu_layers, device=args.device,
                        max_image_pixels=args.max_image_pixels, model_name=args.model_name,
                        allow_fault_injection=args.allow_fault_injection, fault_at_load=args.fault_at_load,
                        args=args)
