"""Per-op latency lookup tables: the data and its JSON (``table``), the upload
validator (``schema``), building and importing (``build``), calibration on
whole networks (``calibration``)."""
from .build import build_lut, device_name, import_ofa_yaml
from .calibration import fit_calibration
from .schema import LUT_JSON_SCHEMA, LutError, load_lut, validate_lut_json
from .table import LUT_FORMAT, LUT_VERSION, LookupTable, LutEntry, LutMissError, key_with_bits, problem_of_meta

__all__ = ["LookupTable", "LutEntry", "LutMissError", "LUT_FORMAT", "LUT_VERSION", "key_with_bits",
           "problem_of_meta", "LutError", "validate_lut_json", "load_lut", "LUT_JSON_SCHEMA", "build_lut",
           "import_ofa_yaml", "device_name", "fit_calibration"]
