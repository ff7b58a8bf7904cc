"""A model-based test of the whole checkout: a hypothesis state machine drives the real sidecar
against the real simulator and checks what they did against a small reference model."""
