#!/usr/bin/env python3
"""Reads each dashboard given on the command line with the Grafana Foundation SDK's dashboard model
(grafana-foundation-sdk from PyPI: Dashboard.from_json, then its JSON encoder) and checks that every
field of the file survives the round trip with its value: a field the model does not know, or a value
of the wrong type, is dropped or changed and reported. Exit 0 when all pass, 1 otherwise, 3 when the
SDK is not installed."""
import json
import sys

try:
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import dashboard
except ImportError:
    print("grafana-foundation-sdk not installed (pip install grafana-foundation-sdk)")
    sys.exit(3)


def missing(ours, theirs, path):
    """Paths of `ours` that `theirs` lacks or holds with another value."""
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [path]
        out = []
        for k, v in ours.items():
            out += missing(v, theirs.get(k, KeyError), f"{path}.{k}") if k in theirs else [f"{path}.{k}"]
        return out
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(theirs) != len(ours):
            return [path]
        return [p for i, (a, b) in enumerate(zip(ours, theirs)) for p in missing(a, b, f"{path}[{i}]")]
    return [] if ours == theirs else [f"{path}: {ours!r} became {theirs!r}"]


bad = 0
for name in sys.argv[1:]:
    with open(name) as f:
        ours = json.load(f)
    model = dashboard.Dashboard.from_json(ours)
    theirs = json.loads(json.dumps(model, cls=JSONEncoder))
    lost = missing(ours, theirs, "$")
    for p in lost:
        print(f"{name}: {p}")
    bad += len(lost)
    print(f"{name}: {len(ours['panels'])} panels read by the SDK model, {len(lost)} fields lost")
sys.exit(1 if bad else 0)
