"""Where runs are logged: MLflow with a local store (default), Weights & Biases offline, or nowhere.

MLflow writes to `<data_dir>/mlruns/mlflow.db` (SQLite; MLflow 3 refuses its file store) and the artifacts
beside it (`mlflow ui --backend-store-uri sqlite:///<data_dir>/mlruns/mlflow.db` shows them);
W&B runs in offline mode under `<data_dir>/wandb` (`wandb sync` uploads later, if ever). Both are
imported only when chosen; a missing package names the extra to install. Left out: remote tracking
servers (set MLFLOW_TRACKING_URI yourself), artifact stores other than the local folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol

from dayshift.errors import ConfigError, PluginError

TrackerName = Literal["mlflow", "wandb", "none"]


class Tracker(Protocol):
    run_id: str

    def log_metrics(self, metrics: dict[str, float], *, step: int) -> None: ...
    def log_artifact(self, path: Path) -> None: ...
    def finish(self, *, status: str = "FINISHED") -> None: ...


class NoTracker:
    run_id = ""

    def log_metrics(self, metrics: dict[str, float], *, step: int) -> None:
        pass

    def log_artifact(self, path: Path) -> None:
        pass

    def finish(self, *, status: str = "FINISHED") -> None:
        pass


def mlflow_uri(root: Path) -> str:
    """The tracking URI of a local store: `mlflow ui --backend-store-uri <this>` shows its runs."""
    return f"sqlite:///{(root / 'mlflow.db').resolve()}"


class MlflowTracker:
    def __init__(self, *, root: Path, experiment: str, run_name: str, params: dict[str, Any]) -> None:
        try:
            import mlflow
        except ImportError as exc:
            raise PluginError('tracking to MLflow needs mlflow: pip install "dayshift[finetune]"') from exc
        self._mlflow = mlflow
        root.mkdir(parents=True, exist_ok=True)
        # MLflow 3 refuses its file store by default: runs go to SQLite, artifacts to a folder beside it.
        mlflow.set_tracking_uri(mlflow_uri(root))
        if mlflow.get_experiment_by_name(experiment) is None:
            mlflow.create_experiment(experiment, artifact_location=(root / "artifacts").resolve().as_uri())
        mlflow.set_experiment(experiment)
        self._run = mlflow.start_run(run_name=run_name)
        self.run_id = self._run.info.run_id
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})

    def log_metrics(self, metrics: dict[str, float], *, step: int) -> None:
        self._mlflow.log_metrics(metrics, step=step)

    def log_artifact(self, path: Path) -> None:
        self._mlflow.log_artifact(str(path))

    def finish(self, *, status: str = "FINISHED") -> None:
        self._mlflow.end_run(status=status)


class WandbTracker:
    def __init__(self, *, root: Path, experiment: str, run_name: str, params: dict[str, Any]) -> None:
        try:
            import wandb
        except ImportError as exc:
            raise PluginError('tracking to Weights & Biases needs wandb: pip install wandb') from exc
        root.mkdir(parents=True, exist_ok=True)
        self._run = wandb.init(project=experiment, name=run_name, config=params, dir=str(root), mode="offline",
                               settings=wandb.Settings(silent=True))  # fmt: skip
        self.run_id = self._run.id

    def log_metrics(self, metrics: dict[str, float], *, step: int) -> None:
        self._run.log(metrics, step=step)

    def log_artifact(self, path: Path) -> None:
        self._run.save(str(path), base_path=str(path.parent), policy="now")

    def finish(self, *, status: str = "FINISHED") -> None:
        self._run.finish(exit_code=0 if status == "FINISHED" else 1)


def open_tracker(name: str, *, data_dir: Path, experiment: str, run_name: str, params: dict[str, Any]) -> Tracker:
    if name == "mlflow":
        return MlflowTracker(root=data_dir / "mlruns", experiment=experiment, run_name=run_name, params=params)
    if name == "wandb":
        return WandbTracker(root=data_dir / "wandb", experiment=experiment, run_name=run_name, params=params)
    if name == "none":
        return NoTracker()
    raise ConfigError(f'unknown tracker {name!r}: set [finetune] tracker to "mlflow", "wandb" or "none"')
