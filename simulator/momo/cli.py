"""The command line: ``python -m simulator.momo [--host H] [--port P] [--approve-after-ms N] ...``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from aiohttp import web

from simulator.momo.app import create_momo_sim
from simulator.momo.config import MomoSimConfig


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.momo",
        description="MTN MoMo and Airtel Money simulator (control API under /_sim/).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument(
        "--approve-after-ms",
        type=int,
        default=None,
        help="approve every collection after this delay (default: wait for POST /_sim/approvals/{id})",
    )
    parser.add_argument("--expire-after-s", type=float, default=300.0, help="unapproved collections expire after this")
    parser.add_argument("--disburse-after-ms", type=int, default=0)
    parser.add_argument(
        "--airtel-callback-url", default=None, help="where Airtel callbacks go (set on Airtel's portal)"
    )
    parser.add_argument("--mtn-callback-method", choices=("PUT", "POST"), default="PUT")
    parser.add_argument("--float", dest="float_ngwee", type=int, default=100_000_000, help="wallet float, in ngwee")
    parser.add_argument("--hang-s", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> MomoSimConfig:
    return MomoSimConfig(
        approve_after_ms=args.approve_after_ms,
        expire_after_s=args.expire_after_s,
        disburse_after_ms=args.disburse_after_ms,
        airtel_callback_url=args.airtel_callback_url,
        mtn_callback_method=args.mtn_callback_method,
        float_ngwee=args.float_ngwee,
        hang_s=args.hang_s,
        seed=args.seed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = config_from(args)
    print(f"MoMo simulator on http://{args.host}:{args.port} (MTN and Airtel; control under /_sim/)", flush=True)
    web.run_app(create_momo_sim(config), host=args.host, port=args.port, print=None)
    return 0
