"""Writes JSON Schemas of Argo Workflows' WorkflowTemplate and Workflow (argoproj.io/v1alpha1)
from hera's models, which are generated from Argo's own OpenAPI spec, for check-jsonschema.
Every object with declared properties gets additionalProperties: false: a misspelt field is an
error, as with `argo lint` (strict decoding); kind and apiVersion are pinned.
Usage: argo-schema.py OUT_DIR"""
import json
import sys
from pathlib import Path

from hera.workflows.models import Workflow, WorkflowTemplate


def strict(node):
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for value in node:
            strict(value)


def main(out):
    out.mkdir(parents=True, exist_ok=True)
    for model, kind in ((WorkflowTemplate, "WorkflowTemplate"), (Workflow, "Workflow")):
        schema = model.model_json_schema(by_alias=True)
        strict(schema)
        schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        schema["properties"]["apiVersion"] = {"const": "argoproj.io/v1alpha1"}
        schema["properties"]["kind"] = {"const": kind}
        schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata", "spec"})
        (out / f"{kind.lower()}.json").write_text(json.dumps(schema, indent=1))
        print(out / f"{kind.lower()}.json")


main(Path(sys.argv[1]))
