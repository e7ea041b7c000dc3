"""Any council: a scenario from its own SSDA903 return and fostering figures, or from the
published DfE 2019 local-authority tables.

- :mod:`~sim.council.read903`: several years of SSDA903 files read into one episode history,
  with every data-quality problem listed;
- :mod:`~sim.council.estimate`: arrival, exit and move rates and the starting stock, each with
  a standard error;
- :mod:`~sim.council.fostering`: the Ofsted fostering figures (England's, scaled, where missing);
- :mod:`~sim.council.scenario`: the estimates mapped onto the scenario schema, as commented TOML;
- :mod:`~sim.council.dfe`: the bundled DfE 2019 tables, starting scenarios and benchmarks;
- :mod:`~sim.council.fit`: the first simulated year against the last observed one;
- :mod:`~sim.council.build`: ``sufficiency init-council``.

Nothing here is imported by the model.
"""
