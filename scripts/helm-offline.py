#!/usr/bin/env python3
"""`helm lint` and `helm template` without a helm binary or a cluster, through Helm v4's own Go
SDK as packaged by helm-python-sdk (installed by scripts/install-deploy-tools.sh; run it with that
venv's python). The tests in tests/it/deploy/ call it; an operator can too:

    python scripts/helm-offline.py lint deploy/k8s -f deploy/k8s/values-production.yaml
    python scripts/helm-offline.py template deploy/k8s -f deploy/k8s/values-production.yaml \
        --name powerbirth --namespace powerbirth [--set image.tag=1.2.3]

`lint` prints every finding and exits 1 on a warning or an error (`helm lint --strict`).
`template` prints the manifests as `helm template` does (a client-only install dry run) and exits
1 when rendering fails. `--set` takes Helm's own `a.b=value` syntax (parsed by the same library).
"""
import argparse
import sys

import helm_python as helm

SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}


def merged_values(files, sets):
    values = {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            deep_merge(values, helm.values_from_yaml(f.read()))
    for item in sets:
        deep_merge(values, helm.parse_set_string(item))
    return values


def deep_merge(into, new):
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            deep_merge(into[key], value)
        else:
            into[key] = value


def lint(args):
    report = helm.lint(
        args.chart,
        merged_values(args.values, args.set),
        strict=True,
        namespace=args.namespace,
        kube_version=args.kube_version,
    )
    bad = False
    for m in report.get("messages") or []:
        severity = SEVERITY.get(m.get("severity"), "UNKNOWN")
        print(f"[{severity}] {m.get('path')}: {m.get('error')}")
        bad = bad or m.get("severity", 0) >= 2
    for e in report.get("errors") or []:
        print(f"[ERROR] {e}")
        bad = True
    print(f"{report.get('total_charts_linted', 0)} chart(s) linted, {'failed' if bad else 'no failures'}")
    return 1 if bad else 0


def template(args):
    values = merged_values(args.values, args.set)
    with helm.Chart.load(args.chart) as chart, helm.Config(namespace=args.namespace, storage_driver="memory") as config:
        release = config.install(chart, args.name, values, namespace=args.namespace, dry_run="client")
    manifest = release["manifest"] if isinstance(release, dict) else release.manifest
    sys.stdout.write(manifest)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["lint", "template"])
    parser.add_argument("chart")
    parser.add_argument("-f", "--values", action="append", default=[])
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--name", default="powerbirth")
    parser.add_argument("--namespace", default="powerbirth")
    parser.add_argument("--kube-version", default=None)
    args = parser.parse_args()
    try:
        return lint(args) if args.command == "lint" else template(args)
    except helm.HelmError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
