"""Scale-out: the per-video stages as Apache Beam pipelines (DirectRunner here; Dask,
Flink, Spark or Dataflow by pipeline options). Needs the ``beam`` extra; importing this package does not
import Beam or TensorFlow (the CLI lists it without them)."""

RUNNERS = ("direct", "prism", "flink", "spark", "dataflow", "dask")
