"""MLflow: the registry state a spec asks for, and the sync and check that apply and verify it
against a tracking server (`maestro registry sync|check`, in `commands/registry.py`).

Desired state (`desired_state`, pure, JSON-serialisable, every mapping in sorted key order):

    experiment       name = registry.experiment or metadata.name;
                     tags team, tier, costCenter, model (the registered model's name)
    registeredModel  name = registry.model or metadata.name; description = metadata.description;
                     tags team, tier, costCenter, owners (comma-joined)
    serve            {"alias": "champion"} or {"version": 7}: what serving resolves
    variants         the A/B variants' aliases or versions (serving resolves them too)
    gates            the spec's gates plus the environment's `governance.min_gates`

How platform minimums combine with the spec's gates (`combine_gates`): a minimum `m` for a
metric means `metric >= m` must hold whatever the spec says. As in policy MPS005
(policies/spec/registry.rego), only a lower bound (`>=`, `>`) can meet a minimum.
- A spec gate `>= v` or `> v` with `v >= m` is at least as strict: it alone is kept.
- A weaker lower bound (`v < m`) is replaced by the platform's `>= m`: the two could only
  fail together, and one finding reads better than two.
- Otherwise (no gate on the metric, or `<=`, `<`, `==`) the platform's `>= m` is added
  beside the spec's gate, and both must hold.
Minimums apply to models that serve: they are the floor for what reaches online traffic
(a batch model, like a forecaster, is gated on its own metrics). A spec that waives MPS005
(`metadata.waivers`) gets no platform minimums either: the waiver says a metric does not
exist for that kind of model. Whether the waiver is still valid is for
governance to judge (an expired one is an error there), so rendering does not depend on
today's date. Every gate says where it came from (`source`: spec | platform).

sync (`plan` then `apply`) creates what is missing and corrects what differs: the
experiment (created with its tags; restored if it was deleted), the registered model
(created with description and tags), the description, and the tags above. It never deletes
anything: runs, versions, aliases and tags it does not set are left alone, and a tag the
spec stops setting keeps its last value. It never moves an alias either (promotion is a
person's or CI's decision); it warns when what serving resolves does not exist. Running it
twice changes nothing the second time.

check resolves what serving resolves (the A/B variants' aliases and versions must exist
too) and evaluates every gate against the latest value of each metric of the main served
version's run; variants are not gated (they are how a candidate earns promotion). Every failure is an error naming model, version, metric,
observed value and threshold, e.g.
    M806 fraud-detector version 3 (alias champion): val_auc = 0.91, needs >= 0.92

mlflow is imported inside functions only: compiling and validating never pay for it.
"""
