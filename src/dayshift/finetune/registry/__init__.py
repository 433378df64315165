"""The model registry: versions with model cards, the aliases production and candidate, promote, rollback."""

from dayshift.finetune.registry.store import ModelCard, ModelRegistry, registry_root

__all__ = ["ModelCard", "ModelRegistry", "registry_root"]
