"""Every write goes through a service: keyword-only, typed, one transaction.

By topic: ``experiments`` (launch, cancel, delete), ``execution`` (running one
in a worker), ``dispatch`` (the outbox and the reconciler), ``fronts`` (the stored Pareto front), ``heartbeat`` (worker
liveness), ``hardware`` (profiles and their latency models), ``uploads`` and
``accounts``, ``sharing`` (an experiment private or shared), ``networks`` (saved networks: adopted from runs, uploaded, exported), ``flows`` (search -> prune ->
quantise, each step an experiment on the network the step before kept).
"""
from .accounts import admin_ensure
from .dispatch import experiment_dispatch, reconcile, start_reconciler
from .execution import experiment_execute
from .experiments import experiment_cancel, experiment_delete, experiment_launch, network_measure
from .flows import flow_launch
from .fronts import experiment_refresh_front
from .hardware import (hardware_latency_predictor_attach, hardware_lookup_table_attach, hardware_lookup_table_remove,
                       hardware_profile_create, hardware_profile_delete, hardware_profile_update,
                       hardware_profiles_sync_builtin)
from .heartbeat import experiment_recover_orphans
from .networks import network_adopt, network_delete, network_export, network_upload
from .sharing import experiment_share
from .uploads import upload_resolve, upload_save

__all__ = ["admin_ensure", "experiment_cancel", "experiment_delete", "experiment_execute", "experiment_launch",
           "experiment_recover_orphans", "experiment_refresh_front", "hardware_profile_create",
           "hardware_profile_delete", "hardware_profile_update", "hardware_profiles_sync_builtin", "upload_save",
           "upload_resolve", "hardware_lookup_table_attach", "hardware_lookup_table_remove",
           "hardware_latency_predictor_attach", "network_adopt", "network_delete", "network_export",
           "network_upload", "network_measure", "flow_launch", "experiment_dispatch", "reconcile",
           "start_reconciler", "experiment_share"]
