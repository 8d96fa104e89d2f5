"""Governance: the Rego adapter (regorus), conftest semantics for policy sets, and the governance stage with waivers."""
