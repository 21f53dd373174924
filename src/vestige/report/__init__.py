"""Renderers of a result: findings.json, manifest.jsonl, records, timeline.jsonl, run.json."""
