"""Stage 1, configuration. Takes `environments/promotion.yaml`; gives a frozen `Config`.

The schema (`schema.py`) says what each key may hold and is published as
`schemas/promotion.schema.json`; what a schema cannot say (references between sections,
cycles, policies that compile) is checked in code. Every error names the file and line.
"""
