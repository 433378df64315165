"""Fine-tuning on the user's own corpus: training data, training runs, tracking, a model registry.

    data/            training examples from the corpus (doc2query), eval sets and rated traces
    leakage/         refuses (or warns) when an eval case's question or passage is in the training data
    tracking/        loss history, early stopping, the overfitting alarm, loss-curve PNGs, MLflow / W&B
    train_reranker/  a cross-encoder trained from the bundled MiniLM weights (sentence-transformers)
    train_embedder/  a contrastive fine-tune of the bundled embedder
    train_reader/    LoRA on a local reader (peft); what converts back to GGUF and what does not
    registry/        versions, aliases (production, candidate), model cards, promote and rollback

Everything here needs the `finetune` extra (torch is core; sentence-transformers, peft, mlflow are
not): `pip install "dayshift[finetune]"`. Nothing outside this package and the `finetune` / `models`
commands imports it, and the commands import it only when they run.
"""
