"""HAT: Hardware-Aware Transformers (Wang et al., ACL 2020): a weight-shared
SuperTransformer, a latency predictor on HAT's 10 architecture features, and
evolutionary search for a SubTransformer under a latency limit
(:mod:`.technique`; the space in :mod:`engine.spaces.transformer`, the
networks in :mod:`engine.nn.transformer` / :mod:`engine.nn.elastic_transformer`)."""
from ..registry import Technique, register_technique
from .technique import Config, run

__all__ = ["Config", "run"]

register_technique(Technique(
    name="hat", title="HAT: hardware-aware Transformers for translation",
    summary="Trains a weight-shared SuperTransformer (one random SubTransformer per update), measures "
            "SubTransformers by HAT's protocol (batch 1, autoregressive decoder, trimmed mean) or reads a device's "
            "latency dataset in HAT's CSV layout, fits the 10-feature MLP against a linear fit, and searches by "
            "evolution (random search beside it) for the lowest validation loss under a latency limit; the winner "
            "and a uniformly scaled-down Transformer are fine-tuned alike and compared on BLEU and measured "
            "latency.",
    config_cls=Config, run=run, objectives={"latency_ms": "min", "val_loss": "min"},
    axes=("latency_ms", "val_loss"), group_by="search",
    paper="Wang et al., HAT: Hardware-Aware Transformers for Efficient Natural Language Processing, ACL 2020 "
          "(arXiv:2005.14187)",
    smoke={"train_pairs": 120, "valid_pairs": 16, "test_pairs": 8, "vocab_size": 120, "max_len": 24, "epochs": 1,
           "batch_size": 32, "warmup_steps": 4, "latency_samples": 10, "latency_warmup": 1, "latency_repeats": 3,
           "sentence_length": 4, "predictor_epochs": 20, "generations": 2, "population": 6, "parents": 2,
           "mutations": 2, "crossovers": 2, "valid_sentences": 16, "finetune_epochs": 1, "bleu_sentences": 4,
           "beam": 2},
))
