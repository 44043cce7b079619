"""The weight-shared MBConv super-net: model, training step, batch-norm
re-calibration, static sub-net extraction and safetensors checkpoints."""
from .bn import recalibrate_bn
from .checkpoint import (CheckpointError, CheckpointInfo, checkpoint_path, list_checkpoints,
                         load_checkpoint, save_checkpoint)
from .data import VAL_LIMIT, NasData, load_nas_data
from .model import MBConvSuperNet, largest_arch, smallest_arch
from .training import (SAMPLING, SupernetTrainer, evaluate_subnet, evaluate_subnet_images, fold_bn, subnet_accuracy,
                       subnet_correct, train_supernet)

__all__ = ["MBConvSuperNet", "largest_arch", "smallest_arch", "recalibrate_bn", "NasData", "load_nas_data", "VAL_LIMIT",
           "SAMPLING", "SupernetTrainer", "train_supernet", "evaluate_subnet", "evaluate_subnet_images",
           "subnet_accuracy", "subnet_correct", "fold_bn",
           "CheckpointError", "CheckpointInfo", "checkpoint_path", "list_checkpoints",
           "load_checkpoint", "save_checkpoint"]
