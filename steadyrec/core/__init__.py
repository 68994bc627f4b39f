"""The torch-free core every side shares: artifacts and the registry, interaction logs and formats, the
event log, RBO / Jaccard, the canary gate, method configs, job records and the settings base.

Dependency direction (checked by ``lint-imports``): core <- training <- worker; core <- service. Nothing
here imports training, worker, service or torch.
"""
