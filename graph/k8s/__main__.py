"""``python -m graph.k8s render|check|scan``: generate k8s/ from serve_config.yaml, verify, scan.

python -m graph.k8s render                      # (re)write every generated file in k8s/
python -m graph.k8s render --overlay gpu        # print one overlay as a YAML stream
python -m graph.k8s render --overlay gpu --image REGISTRY/rag-serve@sha256:DIGEST --output gpu.yaml
python -m graph.k8s check                       # exit 1 if k8s/ is not up to date
python -m graph.k8s scan                        # checkov, Ray pods included; exit 1 on failures
python -m graph.k8s scan --overlay gpu          # one overlay (with base and monitoring)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deployments.errors import ConfigError
from graph.k8s.profiles import PROFILES
from graph.k8s.render import K8S_DIR, overlay_stream, stale_files, write_all
from graph.k8s.scan import ScanError, format_summary, scan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graph.k8s", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="write k8s/, or print one overlay")
    render.add_argument("--overlay", choices=sorted(PROFILES), help="print this overlay only")
    render.add_argument("--image", help="image of every Ray container (with --overlay)")
    render.add_argument("--output", type=Path, help="write the overlay here instead of stdout")
    sub.add_parser("check", help="fail if the committed k8s/ files are stale")
    scanner = sub.add_parser("scan", help="run checkov over the rendered manifests")
    scanner.add_argument("--overlay", choices=sorted(PROFILES), help="scan this overlay only")
    args = parser.parse_args(argv)
    try:
        if args.command == "scan":
            results = scan(args.overlay)
            print(format_summary(results))
            return 1 if results.failed else 0
        if args.command == "check":
            stale = stale_files()
            if stale:
                print(
                    "k8s/ is out of date with serve_config.yaml / graph/k8s: "
                    + ", ".join(stale)
                    + "\nrun: python -m graph.k8s render",
                    file=sys.stderr,
                )
                return 1
            print("k8s/ is up to date")
            return 0
        if args.overlay:
            text = overlay_stream(args.overlay, args.image)
            if args.output:
                args.output.write_text(text)
            else:
                sys.stdout.write(text)
            return 0
        if args.image or args.output:
            parser.error("--image and --output need --overlay")
        written = write_all()
        print(f"wrote {len(written)} file(s) under {K8S_DIR}: {', '.join(written) or 'none'}")
        return 0
    except ConfigError as exc:  # invalid serve config or GPU placement: say why, no traceback
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except ScanError as exc:  # checkov missing or of another version: say how to install it
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
