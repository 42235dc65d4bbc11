"""``tfdeepfake serve``: a small local web page around ``detect --annotate --report`` for
people who do not use a terminal. ``app`` is the Flask app (imported by the serve command
only), ``jobs`` the per-model queues, ``files`` what an upload or a pick may touch."""
