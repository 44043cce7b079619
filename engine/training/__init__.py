"""The one training loop (:func:`fit`), its schedules, and the one wrapper
(:func:`train_model`) that builds seeded loaders and an optimiser around it."""
from .loop import History, Progress, Step, StepOutput, classification_step, evaluate, fit, make_optimizer
from .memory_format import channels_last_during, to_channels_last
from .recipe import TensorBatches, TrainData, make_loader, train_model
from .schedule import SCHEDULES, Schedule, as_schedule, lr_scheduler

__all__ = ["StepOutput", "History", "Step", "Progress", "fit", "evaluate", "classification_step", "make_optimizer",
           "Schedule", "SCHEDULES", "as_schedule", "lr_scheduler", "TensorBatches", "TrainData", "make_loader",
           "train_model", "to_channels_last", "channels_last_during"]
